#!/usr/bin/env bash
# Create .venv with napari-dsp installed in editable mode. Extra arguments name pip extras, e.g. "testing".
# torch is pinned to the CPU build on this machine's disk through constraints.txt, not through pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
export PIP_CONSTRAINT="$PWD/constraints.txt"
.venv/bin/python -m pip install -q --upgrade pip
extras=$(IFS=,; echo "$*")
.venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
