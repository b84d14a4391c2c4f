"""Deprecated location: use `napari_dsp.evaluation.figures`."""

import warnings

from .evaluation.figures import *  # noqa: F403 - the old import path re-exports the public names
from .evaluation.figures import __all__  # noqa: F401

warnings.warn(
    "napari_dsp.figures moved to napari_dsp.evaluation.figures; the old path will be removed",
    DeprecationWarning,
    stacklevel=2,
)
