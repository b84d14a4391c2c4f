"""Save Labels and priors as TIFF with their provenance: the plugin's metadata and the napari-dsp version."""

import json

import numpy as np


def write_tiff(path: str, data, attributes: dict) -> list:
    """napari writer: `data` as a TIFF whose ImageDescription is JSON ``{"napari_dsp": {...}}``.

    The JSON holds the layer's ``metadata["napari_dsp"]`` (kind, source layer,
    parameters) plus ``version``; for layers the plugin did not make, just
    the version.
    """
    import tifffile

    from .. import __version__
    from ._layers import METADATA_KEY

    provenance = dict(attributes.get("metadata", {}).get(METADATA_KEY) or {}, version=__version__)
    description = json.dumps({METADATA_KEY: provenance}, default=str)
    tifffile.imwrite(path, np.asarray(data), description=description, metadata=None)
    return [path]
