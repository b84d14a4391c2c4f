"""Window-feature KMeans: foreground/background and k-class segmentation of the prior.

Section 4 of the DSP paper clusters every pixel by the w x w window around it
(all channels) with KMeans; applied to the prior, which has flat surfaces and
no fine texture, this separates objects that the same clustering cannot
separate on the raw image.
"""

import warnings
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.cluster import KMeans

from ._image import check_choice, check_seed, is_int, prepare_image
from .recipes import FOREGROUND_RULES, PAPER

_PAPER = PAPER.kmeans

__all__ = ["foreground_background", "kmeans_segmentation"]

# Features of one predict chunk, in float32 elements (16 MiB): bounds the
# memory of a 4096 x 4096 RGB image to a few hundred MB instead of ~10 GB.
_CHUNK_ELEMENTS = 1 << 22


def check_parameters(spatial_shape, n_clusters, window, max_samples=_PAPER.max_samples, n_init=_PAPER.n_init):
    """Validate KMeans options against an image's height and width.

    Public to the package so the pipeline can reject bad options before it
    spends minutes on the prior.

    Parameters
    ----------
    spatial_shape : tuple of int
        ``(height, width)`` of the image.
    n_clusters, window, max_samples, n_init : int
        As in `kmeans_segmentation`.

    Raises
    ------
    ValueError
        If any option is out of range for this image.
    """
    height, width = spatial_shape
    if not is_int(window) or window < 1 or window % 2 == 0:
        raise ValueError(
            f"window={window!r} must be an odd positive integer (1, 3, 5, 7, ...) so that "
            "the window is centred on its pixel"
        )
    if window > min(height, width):
        raise ValueError(
            f"window={window} is larger than the {height} x {width} image; "
            f"use a window of at most {min(height, width) - (min(height, width) + 1) % 2}"
        )
    if not is_int(n_clusters) or not 1 <= n_clusters <= height * width:
        raise ValueError(
            f"n_clusters={n_clusters!r} must be an integer from 1 to the number of pixels "
            f"({height * width})"
        )
    if not is_int(max_samples) or max_samples < n_clusters:
        raise ValueError(
            f"max_samples={max_samples!r} must be an integer of at least n_clusters ({n_clusters})"
        )
    if not is_int(n_init) or n_init < 1:
        raise ValueError(f"n_init={n_init!r} must be a positive integer")


def kmeans_segmentation(
    image: ArrayLike,
    n_clusters: int = _PAPER.n_clusters,
    *,
    window: int = _PAPER.window,
    channel_axis: Optional[int] = None,
    seed=None,
    max_samples: int = _PAPER.max_samples,
    n_init: int = _PAPER.n_init,
) -> np.ndarray:
    """Cluster pixels by the window around them into `n_clusters` classes.

    Each pixel is described by the ``window x window`` neighbourhood around
    it in all channels (``C * window**2`` features, after the image is
    min-max scaled to [0, 1]) and the pixels are clustered with KMeans
    (Lloyd's algorithm, k-means++ initialisation).

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image to segment, normally the Deep Segmentation Prior of a
        photograph. Any integer or float dtype.
    n_clusters : int, optional
        Number of classes k, from 1 to the number of pixels.
    window : int, optional
        Odd side length of the pixel neighbourhood; 1 clusters single pixel
        values. At most the image's smaller side.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for a grayscale image.
    seed : int, numpy.random.Generator or None, optional
        Seed of the pixel subsample and the KMeans initialisation.
    max_samples : int, optional
        KMeans is fitted on at most this many randomly chosen pixels; every
        pixel is then assigned to its nearest centre. On a prior with a few
        flat surfaces 65536 samples find the same centres as all pixels.
    n_init : int, optional
        Number of KMeans initialisations; the one with the lowest inertia wins.

    Returns
    -------
    labels : (M, N) ndarray of int32
        Labels from 1 to `n_clusters` (0 is left free for napari's
        transparent background), numbered by the mean intensity of the
        cluster centres: label 1 is the darkest class. A constant image
        has nothing to split: it is all label 1, with a warning.

    Raises
    ------
    ValueError
        If the image is not 2-D (plus channels), `window` is even, not
        positive or larger than the image, or `n_clusters` is not between 1
        and the number of pixels.

    Notes
    -----
    Borders are padded by reflection, not with zeros as in the authors'
    code: zero padding makes every border window darker than the surface
    it lies on, so a bright object touching the border gets a rim of a
    different class. Reflection keeps border windows on their surface.

    The reference clusters all pixels with 10 initialisations. Fitting on a
    subsample and assigning the rest in chunks of 16 MiB keeps the memory
    bounded (a 4096 x 4096 RGB image with ``window=7`` would need about
    10 GB of features) and the time short; the centres, and so the
    segmentation, are the same on images with distinct surfaces.

    References
    ----------
    .. [1] G. Oren, S. Azulay, E.-H. Mashiah, "Unsupervised Image
           Segmentation With Deep Segmentation Prior", section 4.
    .. [2] Lloyd, "Least squares quantization in PCM", IEEE Trans. Inf.
           Theory 28(2), 1982.

    Examples
    --------
    >>> image = np.zeros((20, 20))
    >>> image[5:15, 5:15] = 1.0
    >>> labels = kmeans_segmentation(image, 2, window=3, seed=0)
    >>> labels.dtype, np.unique(labels).tolist()
    (dtype('int32'), [1, 2])
    >>> int(labels[10, 10]), int(labels[0, 0])
    (2, 1)
    """
    scaled = prepare_image(image, channel_axis, min_size=1)
    check_parameters(scaled.spatial_shape, n_clusters, window, max_samples, n_init)
    seed = check_seed(seed, generator=True)
    if not np.ptp(scaled.data):
        warnings.warn("the image is constant: every pixel gets label 1", stacklevel=2)
        return np.ones(scaled.spatial_shape, np.int32)
    return _cluster(scaled.data, n_clusters, window, seed, max_samples, n_init)


def foreground_background(
    image: ArrayLike,
    *,
    window: int = _PAPER.window,
    channel_axis: Optional[int] = None,
    seed=None,
    max_samples: int = _PAPER.max_samples,
    n_init: int = _PAPER.n_init,
    rule: str = FOREGROUND_RULES[0],
) -> np.ndarray:
    """Split an image into foreground and background with 2-class KMeans.

    The clustering is `kmeans_segmentation` with ``n_clusters=2``; `rule`
    decides which of the two classes is the **foreground**, which the
    paper leaves open.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image, normally the Deep Segmentation Prior of a photograph.
    window : int, optional
        Odd side length of the pixel neighbourhood, at most the image's
        smaller side.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for a grayscale image.
    seed : int, numpy.random.Generator or None, optional
        Seed of the pixel subsample and the KMeans initialisation.
    max_samples, n_init : int, optional
        As in `kmeans_segmentation`.
    rule : {"saliency", "border"}, optional
        ``"saliency"``: the class with the higher mean boundary-connectivity
        saliency (`napari_dsp.foreground.saliency_map` of `image`), which
        scored better on ECSSD (docs/results.md). ``"border"``: the class
        that covers the smaller share of the image's outermost rows and
        columns, as a photographed object usually sits inside the frame (on
        a tie, the class with fewer pixels).

    Returns
    -------
    mask : (M, N) ndarray of int32
        0 for background, 1 for foreground. A constant image is all
        background.

    Raises
    ------
    ValueError
        As `kmeans_segmentation`.

    References
    ----------
    .. [1] G. Oren, S. Azulay, E.-H. Mashiah, "Unsupervised Image
           Segmentation With Deep Segmentation Prior", section 4.

    Examples
    --------
    >>> image = np.zeros((20, 20))
    >>> image[5:15, 5:15] = 1.0
    >>> mask = foreground_background(image, window=3, seed=0)
    >>> int(mask[10, 10]), int(mask[0, 0])
    (1, 0)
    """
    check_choice("rule", rule, FOREGROUND_RULES)
    labels = kmeans_segmentation(
        image, 2, window=window, channel_axis=channel_axis, seed=seed,
        max_samples=max_samples, n_init=n_init,
    )
    if np.unique(labels).size < 2:
        return np.zeros_like(labels)
    if rule == "saliency":
        from .foreground import saliency_map, saliency_rule

        return (labels == saliency_rule(labels, saliency_map(image, channel_axis=channel_axis))).astype(np.int32)
    border = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    border_share = np.bincount(border, minlength=3)[1:] / border.size
    size = np.bincount(labels.ravel(), minlength=3)[1:]
    # lexsort: last key is primary; the foreground is the class that sorts first.
    foreground = 1 + np.lexsort((size, border_share))[0]
    return (labels == foreground).astype(np.int32)


def _cluster(chw, n_clusters, window, seed, max_samples, n_init):
    """Cluster a valid (C, H, W) float32 image; assumes checked options."""
    channels, height, width = chw.shape
    radius = window // 2
    padded = np.pad(chw, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    # (C, H, W, w, w) view on `padded`: features are copied only per subsample or chunk.
    windows = sliding_window_view(padded, (window, window), axis=(1, 2))
    n_pixels = height * width
    rng = np.random.default_rng(seed)
    kmeans = KMeans(n_clusters, n_init=n_init, random_state=int(rng.integers(2**31 - 1)), copy_x=False)
    if n_pixels <= max_samples:
        kmeans.fit(_features(windows))
        labels = kmeans.labels_
    else:
        sample = rng.choice(n_pixels, size=max_samples, replace=False)
        rows, cols = np.divmod(sample, width)
        # Fancy indexing of the channels-last view copies the sample once, already C-ordered.
        kmeans.fit(windows.transpose(1, 2, 0, 3, 4)[rows, cols].reshape(max_samples, -1))
        labels = np.empty(n_pixels, dtype=np.int32)
        step = max(1, _CHUNK_ELEMENTS // (width * channels * window * window))
        for top in range(0, height, step):
            block = windows[:, top:top + step]
            labels[top * width:(top + block.shape[1]) * width] = kmeans.predict(_features(block))
    # Number classes by brightness so that labels do not depend on KMeans' arbitrary order.
    rank = np.empty(n_clusters, dtype=np.int32)
    rank[np.argsort(kmeans.cluster_centers_.mean(axis=1), kind="stable")] = np.arange(1, n_clusters + 1)
    return rank[labels].reshape(height, width)


def _features(windows):
    """Turn a (C, rows, cols, w, w) window view into a (rows * cols, C * w * w) array."""
    rows, cols = windows.shape[1:3]
    # Always a copy: KMeans centres its input in place, and the view is read-only.
    return np.array(windows.transpose(1, 2, 0, 3, 4), order="C").reshape(rows * cols, -1)
