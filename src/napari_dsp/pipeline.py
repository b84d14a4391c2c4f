"""The whole recipe in one call: the Deep Segmentation Prior, then a segmenter on it."""

from dataclasses import dataclass

import numpy as np

from ._device import resolve_device
from ._image import normalize_channel_axis
from .kmeans import check_parameters, foreground_background, kmeans_segmentation
from .prior import deep_segmentation_prior

__all__ = ["METHODS", "Segmentation", "segment"]

METHODS = ("kmeans", "foreground")
"""Segmenters `segment` can run on the prior."""

# (iterations, restarts) of the prior per method, from the paper's recipes.
_PRIOR_DEFAULTS = {"kmeans": (50, 11), "foreground": (50, 11)}


@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare by
class Segmentation:
    """Result of `segment`.

    Attributes
    ----------
    prior : ndarray of float32
        The Deep Segmentation Prior, in the input image's shape and
        intensity scale.
    labels : (M, N) ndarray of int32
        The segmentation: 1..k for ``"kmeans"``, 0 (background) and 1
        (foreground) for ``"foreground"``.
    parameters : dict
        Every option that produced the result, with defaults filled in and
        the device resolved (JSON-serialisable).
    """

    prior: np.ndarray
    labels: np.ndarray
    parameters: dict


def segment(
    image,
    *,
    method="kmeans",
    n_clusters=2,
    window=7,
    iterations=None,
    restarts=None,
    channel_axis=None,
    device=None,
    seed=None,
    callback=None,
):
    """Compute the Deep Segmentation Prior of an image and segment it.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image; any integer or float dtype.
    method : {"kmeans", "foreground"}, optional
        ``"kmeans"``: `n_clusters` classes by window KMeans on the prior
        (`kmeans_segmentation`). ``"foreground"``: foreground/background
        split of the prior (`foreground_background`).
    n_clusters : int, optional
        Number of classes for ``"kmeans"``; ignored by ``"foreground"``.
    window : int, optional
        Odd side of the pixel window the KMeans features are taken from.
    iterations, restarts : int or None, optional
        Training iterations per network and number of networks whose
        median is the prior. None takes the paper's recipe: 50 and 11.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale.
    device : str or None, optional
        Torch device for the prior ("cpu", "cuda", "mps"); None picks the
        best available.
    seed : int or None, optional
        Seed of the prior's networks and of the clustering.
    callback : callable or None, optional
        Called with a `napari_dsp.progress.Progress` after every iteration
        of the prior (``stage="prior"``); returning ``False`` cancels.

    Returns
    -------
    Segmentation
        The prior, the labels and the parameters used.

    Raises
    ------
    ValueError
        If `method` is unknown or an option does not fit the image; this is
        checked before the prior is computed.
    napari_dsp.progress.Cancelled
        If the callback cancels the run.

    See Also
    --------
    napari_dsp.prior.deep_segmentation_prior
    napari_dsp.kmeans.kmeans_segmentation
    napari_dsp.kmeans.foreground_background

    Examples
    --------
    >>> from napari_dsp.samples import load_sample
    >>> result = segment(load_sample("coffee")[::8, ::8], channel_axis=-1,
    ...                  iterations=5, restarts=2, seed=0)  # doctest: +SKIP
    >>> result.labels.shape  # doctest: +SKIP
    (50, 75)
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; choose one of {', '.join(map(repr, METHODS))}")
    array = np.asarray(image)
    channel_axis = normalize_channel_axis(array, channel_axis)
    spatial_shape = tuple(size for axis, size in enumerate(array.shape) if axis != channel_axis)
    check_parameters(spatial_shape, n_clusters if method == "kmeans" else 2, window)
    default_iterations, default_restarts = _PRIOR_DEFAULTS[method]
    iterations = default_iterations if iterations is None else iterations
    restarts = default_restarts if restarts is None else restarts
    device = str(resolve_device(device))

    prior = deep_segmentation_prior(
        array, iterations=iterations, restarts=restarts, channel_axis=channel_axis,
        device=device, seed=seed, callback=callback,
    )
    parameters = {
        "method": method,
        "iterations": iterations,
        "restarts": restarts,
        "window": window,
        "channel_axis": channel_axis,
        "device": device,
        "seed": seed,
    }
    if method == "foreground":
        labels = foreground_background(prior, window=window, channel_axis=channel_axis, seed=seed)
    else:
        labels = kmeans_segmentation(prior, n_clusters, window=window, channel_axis=channel_axis, seed=seed)
        parameters["n_clusters"] = n_clusters
    return Segmentation(prior, labels, parameters)
