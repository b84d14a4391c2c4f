"""Evaluation: dataset loaders, metrics, the benchmark and the paper's figures.

Used by the ``benchmark`` and figure commands of the CLI; no algorithm module
imports it.
"""

from .benchmark import FAMILIES, BenchmarkJob, markdown_table, plan_jobs, read_records, run_benchmark, summarize

__all__ = ["FAMILIES", "BenchmarkJob", "markdown_table", "plan_jobs", "read_records", "run_benchmark", "summarize"]
