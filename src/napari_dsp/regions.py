"""Multi-class regions: superpixels merged over a region adjacency graph.

An over-segmentation (SLIC) is merged greedily, the cheapest pair of
adjacent regions first, where a pair is cheap when the two regions have
similar mean colour and the boundary between them is weak [1]_ [2]_. The
merging stops at a threshold set from the image's own distribution of
initial costs, so the number of regions adapts to each image; regions
smaller than a minimum size are then absorbed by their most similar
neighbour. Every output region is connected. On the Deep Segmentation Prior
the texture that would split a surface is already gone, so the same
threshold merges surfaces more cleanly.

References
----------
.. [1] R. Achanta et al., "SLIC Superpixels Compared to State-of-the-Art
       Superpixel Methods", TPAMI 2012.
.. [2] P. Arbelaez, M. Maire, C. Fowlkes, J. Malik, "Contour Detection and
       Hierarchical Image Segmentation", TPAMI 2011.
"""

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._image import check_int, prepare_image

__all__ = ["REGION_DEFAULTS", "RegionDefaults", "region_segmentation"]


@dataclass(frozen=True)
class RegionDefaults:
    """Default options of `region_segmentation` (the one source for signatures, CLI and widgets)."""

    n_segments: int = 1000
    compactness: float = 10.0
    boundary_weight: float = 0.0
    threshold: float = 1.5
    min_size: float = 0.002
    linkage: str = "single"


REGION_DEFAULTS = RegionDefaults()
_D = REGION_DEFAULTS
_EPS = 1e-9
# The stopping threshold is `threshold` times this quantile of the initial edge costs.
_QUANTILE = 0.5
_SMOOTH = 1.0
# Ward-like size factor: cost *= (harmonic size / image size) ** _SIZE_POWER, so small regions merge first.
_SIZE_POWER = 0.0
_COLOUR_WEIGHT = 1.0
_LINKAGES = ("adaptive", "single", "average")
_ABSOLUTE = False
_RGB = False


def _check_float(name, value, low, high=np.inf, *, low_open=True):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}={value!r} must be a number in {bracket}{low}, {high}]")


def _features(chw):
    """(H, W, 3 or C) Lab-like features of a valid (C, H, W) image in [0, 1]."""
    from skimage.color import rgb2lab

    if chw.shape[0] == 3 and _RGB:
        return np.moveaxis(chw, 0, -1) * np.float32(255)
    if chw.shape[0] == 3:
        return rgb2lab(np.moveaxis(chw, 0, -1)).astype(np.float32)
    return np.moveaxis(chw, 0, -1) * np.float32(100)


def _edge_map(features):
    """Colour gradient magnitude (Lab units per pixel) of a lightly smoothed image."""
    smooth = ndimage.gaussian_filter(features, (_SMOOTH, _SMOOTH, 0))
    gy = ndimage.sobel(smooth, axis=0) / 8
    gx = ndimage.sobel(smooth, axis=1) / 8
    return np.sqrt((gx ** 2 + gy ** 2).sum(-1))


def _graph(labels, features, edges, n):
    """Region sums and boundary statistics of a labelling, vectorised.

    Returns node (count, colour sum) and, per adjacent pair (i < j), the
    boundary length in pixel pairs and the summed edge strength along it.
    """
    flat = labels.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    colour = np.stack([np.bincount(flat, weights=c, minlength=n) for c in features.reshape(len(flat), -1).T], 1)
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    strength = np.concatenate([np.maximum(edges[:, :-1], edges[:, 1:]).ravel(),
                               np.maximum(edges[:-1, :], edges[1:, :]).ravel()])
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    key = lo.astype(np.int64) * n + hi
    pairs, index = np.unique(key, return_inverse=True)
    length = np.bincount(index, minlength=len(pairs)).astype(np.float64)
    total = np.bincount(index, weights=strength[keep], minlength=len(pairs))
    return count, colour, pairs // n, pairs % n, length, total


class _Merger:
    """Greedy hierarchical merging of a region adjacency graph; assumes valid input."""

    def __init__(self, count, colour, first, second, length, strength, boundary_weight, linkage):
        self.linkage = linkage
        self.count = count.copy()
        self.total = float(count.sum())
        self.colour = colour.copy()
        self.parent = np.arange(len(count))
        self.boundary_weight = boundary_weight
        self.neighbours = [dict() for _ in range(len(count))]
        for i, j, l, s in zip(first.tolist(), second.tolist(), length.tolist(), strength.tolist()):
            self.neighbours[i][j] = [l, s, None]
            self.neighbours[j][i] = self.neighbours[i][j]
        self.version = np.zeros(len(count), np.int64)
        self.heap = []

    def cost(self, i, j):
        length, strength, single = self.neighbours[i][j]
        if self.linkage == "single" and single is not None:
            return single
        distance = np.sqrt(((self.colour[i] / self.count[i] - self.colour[j] / self.count[j]) ** 2).sum())
        cost = _COLOUR_WEIGHT * distance + self.boundary_weight * strength / length
        if _SIZE_POWER:
            harmonic = self.count[i] * self.count[j] / (self.count[i] + self.count[j])
            cost *= (harmonic / self.total) ** _SIZE_POWER
        return float(cost)

    def push_all(self):
        costs = []
        for i, near in enumerate(self.neighbours):
            for j in near:
                if i < j:
                    costs.append(self.cost(i, j))
                    near[j][2] = costs[-1]
                    self.heap.append((costs[-1], i, j, 0, 0))
        heapq.heapify(self.heap)
        return np.asarray(costs)

    def merge(self, i, j, push=True):
        """Merge j into i."""
        self.count[i] += self.count[j]
        self.colour[i] += self.colour[j]
        self.parent[j] = i
        del self.neighbours[i][j]
        del self.neighbours[j][i]
        for k, stats in self.neighbours[j].items():
            del self.neighbours[k][j]
            if k in self.neighbours[i]:
                self.neighbours[i][k][0] += stats[0]
                self.neighbours[i][k][1] += stats[1]
                self.neighbours[i][k][2] = min(self.neighbours[i][k][2], stats[2])
            else:
                self.neighbours[i][k] = stats
                self.neighbours[k][i] = stats
        self.neighbours[j] = {}
        self.version[i] += 1
        self.version[j] += 1
        if not push:
            return
        for k in self.neighbours[i]:
            heapq.heappush(self.heap, (self.cost(i, k), i, k, self.version[i], self.version[k]))

    def run(self, threshold):
        while self.heap:
            cost, i, j, vi, vj = self.heap[0]
            if cost > threshold:
                break
            heapq.heappop(self.heap)
            if vi != self.version[i] or vj != self.version[j]:
                continue
            self.merge(i, j)

    def run_adaptive(self, first, second, costs, scale, unit):
        """Felzenszwalb-Huttenlocher merging on the superpixel graph.

        Edges in increasing cost order (Kruskal); a pair merges when its cost
        is at most ``min(Int(A) + scale * unit / |A|, Int(B) + scale * unit / |B|)``,
        Int being the largest edge cost already inside a region: small regions
        merge easily, large ones only across weak edges.
        """
        internal = np.zeros(len(self.count))
        for index in np.argsort(costs, kind="stable").tolist():
            i, j = self._root(int(first[index])), self._root(int(second[index]))
            if i == j:
                continue
            cost = float(costs[index])
            if cost <= min(internal[i] + scale * unit / self.count[i], internal[j] + scale * unit / self.count[j]):
                big, small = (i, j) if self.count[i] >= self.count[j] else (j, i)
                self.merge(big, small, push=False)
                internal[big] = max(internal[big], internal[small], cost)

    def _root(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def absorb_small(self, min_pixels):
        """Merge every region under `min_pixels` into its cheapest neighbour, smallest first."""
        while True:
            alive = np.flatnonzero((self.parent == np.arange(len(self.parent))) & (self.count < min_pixels))
            alive = [r for r in alive.tolist() if self.neighbours[r]]
            if not alive:
                return
            r = min(alive, key=lambda r: (self.count[r], r))
            k = min(self.neighbours[r], key=lambda k: (self.cost(r, k), k))
            big, small = (r, k) if self.count[r] >= self.count[k] else (k, r)
            self.merge(big, small, push=False)

    def roots(self):
        root = self.parent.copy()
        while True:
            nxt = root[root]
            if np.array_equal(nxt, root):
                return root
            root = nxt


def _graph_pairs(merger):
    pairs = [(i, j) for i, near in enumerate(merger.neighbours) for j in near if i < j]
    first, second = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    return first, second


def region_segmentation(
    image,
    *,
    channel_axis=None,
    n_segments=_D.n_segments,
    compactness=_D.compactness,
    boundary_weight=_D.boundary_weight,
    threshold=_D.threshold,
    min_size=_D.min_size,
    linkage=_D.linkage,
    seed=None,
):
    """Segment an image into regions by merging superpixels.

    SLIC superpixels [1]_ form a region adjacency graph whose edge cost is
    the colour distance (CIE Lab for RGB) between the two regions' means
    plus `boundary_weight` times the mean colour-gradient strength along
    their shared boundary. The cheapest adjacent pair is merged and costs
    are updated, until the cheapest cost exceeds `threshold` times the
    median of the initial costs: a stop relative to the image's own
    contrast, so the number of regions adapts to each image. Regions
    smaller than `min_size` of the image are then merged into their
    cheapest neighbour.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image, normally its Deep Segmentation Prior; any numeric dtype.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale.
    n_segments : int, optional
        Approximate number of SLIC superpixels (>= 2).
    compactness : float, optional
        SLIC compactness (> 0), in Lab units.
    boundary_weight : float, optional
        Weight (>= 0) of boundary strength against colour distance.
    threshold : float, optional
        Stop merging when the cheapest cost exceeds this multiple (> 0) of
        the median initial cost; larger gives fewer regions.
    min_size : float, optional
        Smallest region as a fraction of the image's pixels, in [0, 1).
    seed : int, numpy.random.Generator or None, optional
        Accepted for a uniform API; the method is deterministic.

    Returns
    -------
    labels : (M, N) ndarray of int32
        Region labels 1..n, each region 4-connected.

    Raises
    ------
    ValueError
        If the image is not 2-D (plus channels), smaller than 2 x 2, or an
        option is out of range.

    References
    ----------
    .. [1] R. Achanta et al., "SLIC Superpixels Compared to
           State-of-the-Art Superpixel Methods", TPAMI 2012.
    .. [2] G. Oren, S. Azulay, E.-H. Mashiah, "Unsupervised Image
           Segmentation With Deep Segmentation Prior".

    Examples
    --------
    >>> image = np.zeros((40, 40))
    >>> image[:, 20:] = 1.0
    >>> labels = region_segmentation(image, n_segments=40)
    >>> int(labels.max()), bool(labels[0, 0] != labels[0, -1])
    (2, True)
    """
    from skimage.segmentation import slic

    check_int("n_segments", n_segments, low=2)
    _check_float("compactness", compactness, 0)
    _check_float("boundary_weight", boundary_weight, 0, low_open=False)
    _check_float("threshold", threshold, 0)
    _check_float("min_size", min_size, 0, 1, low_open=False)
    if min_size >= 1:
        raise ValueError(f"min_size={min_size!r} must be a fraction of the image in [0, 1)")
    if linkage not in _LINKAGES:
        raise ValueError(f"linkage={linkage!r} is not known; use one of {', '.join(map(repr, _LINKAGES))}")
    del seed  # deterministic
    scaled = prepare_image(image, channel_axis)
    features = _features(scaled.data)
    superpixels = slic(features, n_segments=n_segments, compactness=compactness, start_label=0,
                       channel_axis=-1, convert2lab=False, enforce_connectivity=True)
    # SLIC's connectivity enforcement may leave a label in two pieces; split them so that
    # merging adjacent regions keeps every region connected.
    from skimage.measure import label as connected

    superpixels = connected(superpixels + 1, connectivity=1, background=0) - 1
    n = int(superpixels.max()) + 1
    if n == 1:
        return np.ones(superpixels.shape, np.int32)
    edges = _edge_map(features)
    merger = _Merger(*_graph(superpixels, features, edges, n), boundary_weight, linkage)
    if linkage == "adaptive":
        first, second = _graph_pairs(merger)
        costs = np.array([merger.cost(i, j) for i, j in zip(first.tolist(), second.tolist())])
        scale = max(float(np.quantile(costs, _QUANTILE)), _EPS)
        for i, j, c in zip(first.tolist(), second.tolist(), costs.tolist()):
            merger.neighbours[i][j][2] = c
        merger.run_adaptive(first, second, costs / scale, threshold, superpixels.size / n)
        merger.heap = []
    else:
        initial = merger.push_all()
        merger.run(threshold if _ABSOLUTE else threshold * max(float(np.quantile(initial, _QUANTILE)), _EPS))
    merger.absorb_small(min_size * superpixels.size)
    _, labels = np.unique(merger.roots()[superpixels], return_inverse=True)
    return (labels.reshape(superpixels.shape) + 1).astype(np.int32)
