"""Save Labels and priors as TIFF with their provenance: the plugin's metadata and the napari-dsp version."""

from .._provenance import METADATA_KEY
from .._provenance import write_tiff as _write_tiff


def write_tiff(path: str, data, attributes: dict) -> list:
    """napari writer: `data` as a TIFF whose ImageDescription is JSON ``{"napari_dsp": {...}}``.

    The JSON holds the layer's ``metadata["napari_dsp"]`` (kind, source layer,
    parameters) plus ``version``; for layers the plugin did not make, just
    the version.
    """
    _write_tiff(path, data, attributes.get("metadata", {}).get(METADATA_KEY) or {})
    return [path]
