"""Object-level foreground: boundary-connectivity saliency, then a graph cut.

The KMeans split of `napari_dsp.kmeans.foreground_background` separates the
two dominant colours of an image, which is the object only when the object
has one colour and the background another. This module finds the object
instead: superpixels that are hard to reach from the image border without
crossing an edge (low *boundary connectivity*) and that contrast with the
background are salient [1]_, the more so the nearer the image centre, where
photographs put their subject [2]_; a min-cut whose colour models are seeded
by that saliency and by the border band then gives a binary mask that
follows the image's edges [3]_. It works on any image, and is meant for the
Deep Segmentation Prior, whose flat surfaces make superpixels and colour
models cleaner.

References
----------
.. [1] W. Zhu, S. Liang, Y. Wei, J. Sun, "Saliency Optimization from Robust
       Background Detection", CVPR 2014.
.. [2] T. Judd, K. Ehinger, F. Durand, A. Torralba, "Learning to Predict
       Where Humans Look", ICCV 2009 (the centre bias of photographs).
.. [3] C. Rother, V. Kolmogorov, A. Blake, "GrabCut: Interactive Foreground
       Extraction using Iterated Graph Cuts", SIGGRAPH 2004.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import spsolve

from ._image import check_int, check_number, check_seed, prepare_image
from ._memory import enlarge, shrink_to_fit
from .recipes import FOREGROUND

__all__ = ["ForegroundResult", "foreground_segmentation", "saliency_map", "saliency_rule"]


_D = FOREGROUND

# Geodesic edges whose colour step is below this (Lab units) cost nothing, as in [1]:
# smooth gradients must not add up to a barrier.
_CLIP = 3.0
# Weight of the background term and the constant in the smoothness weights of the optimisation [1].
_BG_LAMBDA = 5.0
_SMOOTH_MU = 0.1
# Colour models of the cut: histograms of _BINS bins per channel.
_BINS = 16
_EPS = 1e-6
# Saliency is averaged over SLIC at these multiples of n_segments.
_SCALES = (0.5, 1.0)
# Cut unary = clip(colour log-ratio, +-_COLOUR_CLIP) + _PRIOR_GAIN * saliency log-odds
# - _BAND_PENALTY on the border band.
_PRIOR_GAIN = 1.0
_BAND_PENALTY = 2.0
_COLOUR_CLIP = 8.0
# Peak memory per pixel (superpixels, saliency, the cut's graph), measured as peak RSS at 1 to 13.5
# megapixels, with some room; a prior adds about 25 bytes.
_BYTES_PER_PIXEL = 350


@dataclass(frozen=True)
class ForegroundResult:
    """Result of `foreground_segmentation`.

    Attributes
    ----------
    mask : (M, N) ndarray of uint8
        1 for foreground, 0 for background.
    saliency : (M, N) ndarray of float32
        Superpixel saliency in [0, 1] (1 = surely foreground), before the cut.
    threshold : float
        Otsu threshold of `saliency` that seeded the cut (and gives the mask
        when ``graph_cut=False``).
    """

    mask: np.ndarray
    saliency: np.ndarray
    threshold: float


def _features(chw):
    """(H, W, 3) Lab-like features of a valid (C, H, W) image in [0, 1]; assumes valid input."""
    from skimage.color import rgb2lab

    if chw.shape[0] == 3:
        return rgb2lab(np.moveaxis(chw, 0, -1)).astype(np.float32)
    if chw.shape[0] == 1:
        lab = np.zeros(chw.shape[1:] + (3,), np.float32)
        lab[..., 0] = chw[0] * 100
        return lab
    # Other channel counts: the three principal components on the L scale (0..100), zero-padded.
    pixels = chw.reshape(chw.shape[0], -1).T.astype(np.float64)
    pixels -= pixels.mean(0)
    _, _, components = np.linalg.svd(pixels, full_matrices=False)
    projected = pixels @ components[:3].T * 100
    features = np.zeros((pixels.shape[0], 3), np.float32)
    features[:, :projected.shape[1]] = projected
    return features.reshape(chw.shape[1:] + (3,))


def _superpixels(lab, n_segments, compactness):
    from skimage.segmentation import slic

    labels = slic(lab, n_segments=n_segments, compactness=compactness, start_label=0,
                  channel_axis=-1, convert2lab=False, enforce_connectivity=True)
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(lab.shape[:2])


def _adjacency(labels):
    """Unique undirected pairs (i < j) of 4-adjacent superpixels."""
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    keep = a != b
    pairs = np.sort(np.stack([a[keep], b[keep]], axis=1), axis=1)
    return np.unique(pairs, axis=0)


def _superpixel_saliency(lab, labels, color_sigma, boundary_sigma, spatial_sigma, center_sigma, optimize):
    """Per-superpixel saliency in [0, 1] (Zhu et al. 2014), times a centre prior; assumes valid input."""
    n = int(labels.max()) + 1
    height, width = labels.shape
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    colour = np.stack([np.bincount(flat, weights=c, minlength=n) for c in lab.reshape(-1, 3).T], 1) / counts[:, None]
    rows, cols = np.indices(labels.shape)
    position = np.stack([np.bincount(flat, weights=rows.ravel(), minlength=n) / (height - 1 or 1),
                         np.bincount(flat, weights=cols.ravel(), minlength=n) / (width - 1 or 1)], 1) / counts[:, None]
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    app = np.sqrt(((colour[:, None] - colour[None]) ** 2).sum(-1))
    if n == 1:
        return np.zeros(1)

    # Geodesic distances over the adjacency graph, border superpixels linked to each other.
    adjacent = _adjacency(labels)
    bi, bj = np.triu_indices(len(border), 1)
    pairs = np.concatenate([adjacent, np.stack([border[bi], border[bj]], 1)])
    weight = app[pairs[:, 0], pairs[:, 1]]
    weight = np.where(weight < _CLIP, 0.0, weight) + _EPS  # explicit zeros would drop the edge
    graph = sparse.coo_matrix((weight, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    geodesic = csgraph.dijkstra(graph, directed=False)
    similar = np.exp(-geodesic ** 2 / (2 * color_sigma ** 2))
    area = similar.sum(1)
    length = similar[:, border].sum(1)
    connectivity = length / np.sqrt(area)
    background = 1 - np.exp(-connectivity ** 2 / (2 * boundary_sigma ** 2))

    spatial = np.exp(-((position[:, None] - position[None]) ** 2).sum(-1) / (2 * spatial_sigma ** 2))
    contrast = (app * spatial * background[None]).sum(1)
    span = contrast.max() - contrast.min()
    contrast = (contrast - contrast.min()) / span if span > 0 else np.zeros(n)
    if not optimize:
        return contrast * _center_prior(position, center_sigma)
    # argmin sum bg*s^2 + fg*(s-1)^2 + sum_adjacent w*(s_i-s_j)^2: one sparse linear solve.
    smooth = np.exp(-app[adjacent[:, 0], adjacent[:, 1]] ** 2 / (2 * color_sigma ** 2)) + _SMOOTH_MU
    w = sparse.coo_matrix((smooth, (adjacent[:, 0], adjacent[:, 1])), shape=(n, n))
    laplacian = csgraph.laplacian((w + w.T).tocsr())
    bg = _BG_LAMBDA * background
    system = laplacian + sparse.diags(bg + contrast)
    saliency = spsolve(system.tocsc(), contrast)
    return np.clip(saliency, 0, 1) * _center_prior(position, center_sigma)


def _center_prior(position, center_sigma):
    """Gaussian weight of each superpixel's distance from the image centre (in image sides); 1 if sigma is 0."""
    if center_sigma == 0:
        return 1.0
    return np.exp(-((position - 0.5) ** 2).sum(1) / (2 * center_sigma ** 2))


def _saliency(lab, n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma, optimize):
    """Pixel saliency averaged over superpixel scales; assumes valid input."""
    total = np.zeros(lab.shape[:2], np.float64)
    for factor in _SCALES:
        labels = _superpixels(lab, max(2, round(n_segments * factor)), compactness)
        total += _superpixel_saliency(lab, labels, color_sigma, boundary_sigma, spatial_sigma, center_sigma,
                                      optimize)[labels]
    total /= len(_SCALES)
    span = total.max() - total.min()
    return ((total - total.min()) / span if span > 0 else np.zeros_like(total)).astype(np.float32)


def _otsu(values):
    from skimage.filters import threshold_otsu

    if np.ptp(values) <= 0:
        return float(values.flat[0])
    return float(threshold_otsu(values))


def _colour_model(codes, weights, n_bins):
    """Smoothed, normalised colour histogram (log) of the pixels in `codes`."""
    hist = np.bincount(codes, weights=weights, minlength=n_bins ** 3).reshape((n_bins,) * 3)
    hist = ndimage.gaussian_filter(hist, 1.0, mode="constant") + 1e-3 * hist.sum() / hist.size + 1e-12
    return np.log(hist / hist.sum()).ravel()


def _border_band(shape):
    band = np.zeros(shape, bool)
    width = max(1, round(0.03 * min(shape)))
    band[:width], band[-width:], band[:, :width], band[:, -width:] = True, True, True, True
    return band


def _graph_cut(lab, saliency, threshold, smoothness, iterations):
    """Binary min-cut with colour histograms seeded by the saliency; assumes valid input."""
    import maxflow

    height, width = saliency.shape
    scaled = (lab - lab.reshape(-1, 3).min(0)) / np.maximum(np.ptp(lab.reshape(-1, 3), 0), _EPS)
    quant = np.minimum((scaled * _BINS).astype(np.int64), _BINS - 1)
    codes = ((quant[..., 0] * _BINS + quant[..., 1]) * _BINS + quant[..., 2]).ravel()

    # Saliency as a prior log-odds around the Otsu threshold.
    spread = max(float(saliency.std()), 0.05)
    prior = _PRIOR_GAIN * np.clip((saliency - threshold) / spread, -4, 4).ravel()
    band = _border_band(saliency.shape).ravel()
    fg_weight = np.where(band, 0.0, np.clip(saliency.ravel() - threshold, 0, None))
    bg_weight = np.clip(threshold - saliency.ravel(), 0, None) + band * 1.0

    # Contrast-sensitive Potts weights between 4-neighbours.
    dx = ((lab[:, 1:] - lab[:, :-1]) ** 2).sum(-1)
    dy = ((lab[1:] - lab[:-1]) ** 2).sum(-1)
    beta = 1.0 / (2 * max(float(np.concatenate([dx.ravel(), dy.ravel()]).mean()), _EPS))
    right = np.zeros((height, width), np.float64)
    down = np.zeros((height, width), np.float64)
    right[:, :-1] = smoothness * np.exp(-beta * dx)
    down[:-1] = smoothness * np.exp(-beta * dy)

    mask = (saliency > threshold).ravel()
    for _ in range(iterations):
        if fg_weight.sum() <= 0 or bg_weight.sum() <= 0:
            break
        log_ratio = _colour_model(codes, fg_weight, _BINS)[codes] - _colour_model(codes, bg_weight, _BINS)[codes]
        score = np.clip(log_ratio, -_COLOUR_CLIP, _COLOUR_CLIP) + prior
        # Border pixels are background unless the colour strongly says otherwise.
        score = score - _BAND_PENALTY * band
        graph = maxflow.Graph[float]()
        nodes = graph.add_grid_nodes((height, width))
        graph.add_grid_edges(nodes, weights=right, structure=np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]),
                             symmetric=True)
        graph.add_grid_edges(nodes, weights=down, structure=np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]]),
                             symmetric=True)
        # Source side = foreground: cutting the sink edge costs max(score, 0).
        graph.add_grid_tedges(nodes, np.maximum(score, 0).reshape(height, width),
                              np.maximum(-score, 0).reshape(height, width))
        graph.maxflow()
        mask = ~graph.get_grid_segments(nodes).ravel()
        if not mask.any() or mask.all():
            break
        fg_weight = mask * (1.0 - band)
        bg_weight = (~mask) * 1.0 + band
    return mask.reshape(height, width)


def _refine(mask):
    """Fill holes and drop specks smaller than 1% of the largest object."""
    mask = ndimage.binary_fill_holes(mask)
    components, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        mask = sizes[components] >= 0.01 * sizes.max()
    return mask


def _validate(n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma, optimize, graph_cut,
              smoothness, iterations, refine):
    check_int("n_segments", n_segments, low=2)
    check_number("compactness", compactness, 0, low_open=True)
    check_number("color_sigma", color_sigma, 0, low_open=True)
    check_number("boundary_sigma", boundary_sigma, 0, low_open=True)
    check_number("spatial_sigma", spatial_sigma, 0, low_open=True)
    check_number("center_sigma", center_sigma, 0)
    check_number("smoothness", smoothness, 0)
    check_int("iterations", iterations, low=1)
    for name, value in (("optimize", optimize), ("graph_cut", graph_cut), ("refine", refine)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name}={value!r} must be True or False")


def saliency_map(image, *, channel_axis=None, n_segments=_D.n_segments, compactness=_D.compactness,
                 color_sigma=_D.color_sigma, boundary_sigma=_D.boundary_sigma,
                 spatial_sigma=_D.spatial_sigma, center_sigma=_D.center_sigma, optimize=_D.optimize):
    """Boundary-connectivity saliency of an image, per pixel.

    SLIC superpixels; the background weight of each superpixel grows with
    its boundary connectivity (the share of its geodesic "area" that lies
    on the image border) [1]_; saliency is its colour contrast to nearby
    background, optionally smoothed over the superpixel graph by a sparse
    least-squares solve, then weighted by a Gaussian centre prior.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image (normally the Deep Segmentation Prior).
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale. Three
        channels are taken as RGB and compared in CIE Lab.
    n_segments : int, optional
        Approximate number of SLIC superpixels (at least 2).
    compactness : float, optional
        SLIC compactness (> 0), in Lab units.
    color_sigma : float, optional
        Colour scale (Lab units, > 0) of the geodesic similarity.
    boundary_sigma : float, optional
        Scale (> 0) of boundary connectivity in the background weight.
    spatial_sigma : float, optional
        Spatial scale (> 0, as a fraction of the image side) of contrast.
    center_sigma : float, optional
        Spread (as a fraction of the image side) of the Gaussian centre
        prior that each superpixel's saliency is multiplied by, so that of
        two equally distinct regions the more central one is the object;
        0 switches it off (objects anywhere in the frame, as in many
        microscopy images).
    optimize : bool, optional
        Refine the contrast by the least-squares optimisation of [1]_.

    Returns
    -------
    saliency : (M, N) ndarray of float32
        In [0, 1], constant within each superpixel.

    Raises
    ------
    ValueError
        If the image or an option is invalid.

    Warns
    -----
    UserWarning
        If the image would need more than half of the free memory: it is
        then segmented at a smaller size and the saliency enlarged.

    References
    ----------
    .. [1] W. Zhu, S. Liang, Y. Wei, J. Sun, "Saliency Optimization from
           Robust Background Detection", CVPR 2014.

    Examples
    --------
    >>> image = np.zeros((40, 40))
    >>> image[10:30, 10:30] = 1.0
    >>> s = saliency_map(image, n_segments=50)
    >>> bool(s[20, 20] > s[2, 2])
    True
    """
    _validate(n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma, optimize, True, 1.0,
              1, True)
    scaled = prepare_image(image, channel_axis)
    [chw] = shrink_to_fit([scaled.data], _BYTES_PER_PIXEL, "saliency_map")
    lab = _features(chw)
    saliency = _saliency(lab, n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma,
                         optimize)
    return enlarge(saliency, scaled.spatial_shape, order=1)


def foreground_segmentation(
    image,
    *,
    prior=None,
    channel_axis=None,
    n_segments=_D.n_segments,
    compactness=_D.compactness,
    color_sigma=_D.color_sigma,
    boundary_sigma=_D.boundary_sigma,
    spatial_sigma=_D.spatial_sigma,
    center_sigma=_D.center_sigma,
    optimize=_D.optimize,
    graph_cut=_D.graph_cut,
    smoothness=_D.smoothness,
    iterations=_D.iterations,
    refine=_D.refine,
    seed=None,
) -> ForegroundResult:
    """Segment the salient object of an image.

    1. Saliency from boundary connectivity and background-weighted contrast
       on SLIC superpixels, weighted by a centre prior (see
       `saliency_map`) [1]_.
    2. The saliency map's Otsu threshold seeds two colour models
       (foreground: salient pixels; background: non-salient pixels and the
       border band); a min-cut with a contrast-sensitive Potts term then
       labels every pixel, and is repeated with the models re-fitted to the
       cut (GrabCut-style [2]_, with the saliency as an extra unary term).
    3. Refinement: holes are filled and specks below 1% of the largest
       object dropped.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image; any numeric dtype. The cut follows its colours and edges.
    prior : array_like, optional
        The image's Deep Segmentation Prior (same shape and channel axis):
        the saliency is computed on it, whose flat surfaces make the
        superpixels follow objects rather than texture, while the cut stays
        on the image's own edges. None computes the saliency on `image`.
        On ECSSD this scored best of the three (docs/results.md).
    channel_axis : int or None, optional
        Axis of `image` (and `prior`) holding the channels; None for grayscale.
    n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma, optimize
        Saliency options, as in `saliency_map`.
    graph_cut : bool, optional
        Cut with colour models; if False the mask is the saliency map above
        its Otsu threshold.
    smoothness : float, optional
        Weight (>= 0) of the pairwise term of the cut.
    iterations : int, optional
        Rounds of cut and colour-model re-fit (>= 1).
    refine : bool, optional
        Fill holes and drop small specks.
    seed : int, numpy.random.Generator or None, optional
        Accepted for a uniform API; the method is deterministic and uses no
        randomness.

    Returns
    -------
    ForegroundResult
        ``mask`` (uint8, 1 = foreground), ``saliency`` (float32 in [0, 1])
        and the saliency ``threshold``.

    Raises
    ------
    ValueError
        If the image is not 2-D (plus channels), smaller than 2 x 2, or an
        option is out of range.

    Warns
    -----
    UserWarning
        If the image would need more than half of the free memory: it is
        then segmented at a smaller size and the mask and saliency enlarged.

    References
    ----------
    .. [1] W. Zhu, S. Liang, Y. Wei, J. Sun, "Saliency Optimization from
           Robust Background Detection", CVPR 2014.
    .. [2] C. Rother, V. Kolmogorov, A. Blake, "GrabCut", SIGGRAPH 2004.
    .. [3] G. Oren, S. Azulay, E.-H. Mashiah, "Unsupervised Image
           Segmentation With Deep Segmentation Prior".

    Examples
    --------
    >>> image = np.zeros((40, 40))
    >>> image[10:30, 10:30] = 1.0
    >>> result = foreground_segmentation(image, n_segments=50)
    >>> int(result.mask[20, 20]), int(result.mask[2, 2])
    (1, 0)
    """
    _validate(n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma, optimize, graph_cut,
              smoothness, iterations, refine)
    check_seed(seed, generator=True)  # checked for a uniform API; the method is deterministic
    scaled = prepare_image(image, channel_axis)
    if prior is not None and np.shape(prior) != scaled.shape:
        raise ValueError(f"prior has shape {np.shape(prior)} but the image has shape {scaled.shape}; pass the "
                         "prior computed from this image (same shape and channel_axis) or prior=None")
    arrays = [scaled.data] if prior is None else [scaled.data, prepare_image(prior, channel_axis).data]
    arrays = shrink_to_fit(arrays, _BYTES_PER_PIXEL, "foreground_segmentation")
    lab = _features(arrays[0])
    source = lab if prior is None else _features(arrays[1])
    saliency = _saliency(source, n_segments, compactness, color_sigma, boundary_sigma, spatial_sigma, center_sigma,
                         optimize)
    threshold = _otsu(saliency)
    if graph_cut and np.ptp(saliency) > 0:
        mask = _graph_cut(lab, saliency, threshold, smoothness, iterations)
    else:
        mask = saliency > threshold
    if refine:
        mask = _refine(mask)
    shape = scaled.spatial_shape
    return ForegroundResult(enlarge(mask.astype(np.uint8), shape), enlarge(saliency, shape, order=1), threshold)


def saliency_rule(labels, saliency):
    """Which label of a labelling is the foreground, by mean saliency.

    Use it to name the foreground cluster of a 2-cluster KMeans labelling
    (``rule="saliency"``) instead of the border rule.

    Parameters
    ----------
    labels : (M, N) ndarray of int
        A labelling, e.g. the output of `kmeans_segmentation` with 2 clusters.
    saliency : (M, N) array_like of float
        A saliency map (higher = more likely foreground), e.g.
        ``foreground_segmentation(...).saliency`` or `saliency_map`.

    Returns
    -------
    int
        The label with the highest mean saliency (on a tie, the smaller
        label).

    Raises
    ------
    ValueError
        If the shapes differ or `labels` is not an integer array.

    Examples
    --------
    >>> labels = np.array([[1, 1, 2, 2]])
    >>> int(saliency_rule(labels, np.array([[0.1, 0.2, 0.9, 0.7]])))
    2
    """
    labels = np.asarray(labels)
    saliency = np.asarray(saliency, dtype=np.float64)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer label map, got dtype {labels.dtype}")
    if labels.shape != saliency.shape:
        raise ValueError(f"labels has shape {labels.shape} but saliency has shape {saliency.shape}; they must match")
    if labels.size == 0:
        raise ValueError("labels is empty")
    values, index = np.unique(labels, return_inverse=True)
    means = np.bincount(index.ravel(), weights=saliency.ravel()) / np.bincount(index.ravel())
    return values[int(np.argmax(means))].item()
