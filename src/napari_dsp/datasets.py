"""Deprecated location: use `napari_dsp.evaluation.datasets`."""

import warnings

from .evaluation.datasets import *  # noqa: F403 - the old import path re-exports the public names
from .evaluation.datasets import __all__  # noqa: F401

warnings.warn(
    "napari_dsp.datasets moved to napari_dsp.evaluation.datasets; the old path will be removed",
    DeprecationWarning,
    stacklevel=2,
)
