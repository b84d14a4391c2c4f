"""The provenance napari-dsp stores with what it makes: layer metadata and TIFF descriptions."""

import json

import numpy as np

__all__ = ["METADATA_KEY", "write_tiff"]

METADATA_KEY = "napari_dsp"
"""Key of the provenance in a layer's metadata and in a TIFF's JSON description."""


def write_tiff(path, data, provenance: dict) -> None:
    """Write `data` as a TIFF whose ImageDescription is JSON ``{"napari_dsp": {**provenance, "version": ...}}``.

    The command line and the napari writer both use it, so that a file says
    what made it however it was saved.
    """
    import tifffile

    from . import __version__

    description = json.dumps({METADATA_KEY: {**provenance, "version": __version__}}, default=str)
    tifffile.imwrite(path, np.asarray(data), description=description, metadata=None)
