"""Deprecated location: use `napari_dsp.evaluation.metrics`."""

import warnings

from .evaluation.metrics import *  # noqa: F403 - the old import path re-exports the public names
from .evaluation.metrics import __all__  # noqa: F401

warnings.warn(
    "napari_dsp.metrics moved to napari_dsp.evaluation.metrics; the old path will be removed",
    DeprecationWarning,
    stacklevel=2,
)
