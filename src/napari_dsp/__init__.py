"""Unsupervised image segmentation with the Deep Segmentation Prior.

The algorithms are plain functions on NumPy arrays; importing this package
imports neither napari nor Qt (nor torch, which loads on first use).
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "deep_segmentation_prior": "prior",
    "kmeans_segmentation": "kmeans",
    "foreground_background": "kmeans",
    "backprop_segmentation": "backprop",
    "Progress": "progress",
    "Cancelled": "progress",
    "resolve_device": "_device",
    "available_devices": "_device",
    "segment": "pipeline",
    "PAPER": "recipes",
    "PRESETS": "recipes",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
