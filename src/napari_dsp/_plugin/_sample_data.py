"""File > Open Sample > napari-dsp: the photographs bundled with scikit-image."""

from ..samples import load_sample


def _sample(name: str) -> list:
    return [(load_sample(name), {"name": name, "rgb": True}, "image")]


def coffee() -> list:
    """Coffee cup photograph as a napari layer data tuple."""
    return _sample("coffee")


def chelsea() -> list:
    """Chelsea the cat photograph as a napari layer data tuple."""
    return _sample("chelsea")


def astronaut() -> list:
    """Astronaut photograph as a napari layer data tuple."""
    return _sample("astronaut")

