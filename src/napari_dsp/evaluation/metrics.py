"""Segmentation quality measures: foreground IoU, the DFC mIoU protocol and the BSDS region metrics.

Every measure compares a predicted label map with one or more ground-truth
label maps of the same shape. All of them are computed from the sparse
contingency table of the two maps (the pixel count of every pair of labels
that occurs together), so the cost is one sort of the pixels, whatever the
number of labels.

References
----------
.. [1] W. Kim, A. Kanezaki and M. Tanaka, "Unsupervised Learning of Image
       Segmentation Based on Differentiable Feature Clustering", IEEE
       Transactions on Image Processing 29, 2020 (the mIoU protocol).
.. [2] P. Arbelaez, M. Maire, C. Fowlkes and J. Malik, "Contour Detection and
       Hierarchical Image Segmentation", IEEE TPAMI 33(5), 2011 (covering,
       probabilistic Rand index, variation of information).
"""

from dataclasses import dataclass

import numpy as np

from .._image import check_int

__all__ = [
    "DFCScore",
    "best_assignment_iou",
    "best_iou_per_segment",
    "boundary_irregularity",
    "boundary_recall",
    "dfc_score",
    "foreground_iou",
    "probabilistic_rand_index",
    "rand_index",
    "segmentation_covering",
    "variation_of_information",
]


@dataclass(frozen=True)
class _Contingency:
    """Non-zero cells of the contingency table of two label maps.

    ``counts[i]`` pixels have label index ``rows[i]`` in the first map and
    ``cols[i]`` in the second; ``row_sizes`` and ``col_sizes`` are the pixel
    counts of every label of each map.
    """

    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray
    row_sizes: np.ndarray
    col_sizes: np.ndarray


def _contingency(first: np.ndarray, second: np.ndarray) -> _Contingency:
    """Contingency table of two label maps of equal shape (assumed checked)."""
    _, first_index = np.unique(first.ravel(), return_inverse=True)
    _, second_index = np.unique(second.ravel(), return_inverse=True)
    n_second = int(second_index.max()) + 1
    # A sparse table (np.unique over the pair code) rather than a dense
    # bincount: one-pixel components can make rows x cols far larger than
    # the number of pixels.
    codes = first_index.astype(np.int64) * n_second + second_index
    cells, counts = np.unique(codes, return_counts=True)
    rows, cols = np.divmod(cells, n_second)
    return _Contingency(
        rows=rows,
        cols=cols,
        counts=counts,
        row_sizes=np.bincount(first_index),
        col_sizes=np.bincount(second_index, minlength=n_second),
    )


def _best_iou(table: _Contingency) -> np.ndarray:
    """Best IoU of every label of the second map with any label of the first."""
    union = table.row_sizes[table.rows] + table.col_sizes[table.cols] - table.counts
    best = np.zeros(len(table.col_sizes))
    np.maximum.at(best, table.cols, table.counts / union)
    return best


def _as_label_map(name: str, labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name} must be an integer or boolean label map, got dtype {labels.dtype}; "
            "round or cast it (e.g. labels.astype(int)) first"
        )
    if labels.size == 0:
        raise ValueError(f"{name} is empty (shape {labels.shape})")
    return labels


def _check_pair(prediction, truth, truth_name="truth"):
    prediction = _as_label_map("prediction", prediction)
    truth = _as_label_map(truth_name, truth)
    if prediction.shape != truth.shape:
        raise ValueError(
            f"prediction has shape {prediction.shape} but {truth_name} has shape {truth.shape}; "
            "both must label the same pixels"
        )
    return prediction, truth


def _check_truths(prediction, truths):
    if isinstance(truths, np.ndarray) and truths.ndim == np.asarray(prediction).ndim:
        truths = [truths]
    truths = list(truths)
    if not truths:
        raise ValueError("truths is empty; pass at least one ground-truth label map")
    checked = [_check_pair(prediction, t, f"truths[{i}]") for i, t in enumerate(truths)]
    return checked[0][0], [t for _, t in checked]


def _iou(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    union = np.count_nonzero(mask_a | mask_b)
    if union == 0:
        return 1.0
    return np.count_nonzero(mask_a & mask_b) / union


def foreground_iou(prediction, truth) -> float:
    """Intersection over union of the predicted and the true foreground.

    Parameters
    ----------
    prediction, truth : (M, N) ndarray of bool or int
        Foreground masks; every non-zero pixel is foreground.

    Returns
    -------
    float
        ``|P & T| / |P | T|``, in [0, 1]; 1.0 when both masks are empty.

    Examples
    --------
    >>> foreground_iou(np.array([[1, 1, 0, 0]]), np.array([[0, 1, 1, 0]]))
    0.3333333333333333
    """
    prediction, truth = _check_pair(prediction, truth)
    return float(_iou(prediction != 0, truth != 0))


def best_assignment_iou(prediction, truth) -> float:
    """Foreground IoU under the better of the two foreground/background assignments.

    A clustering does not know which of its two clusters is the object; this
    scores the prediction as if an oracle had chosen. It is an upper bound of
    `foreground_iou` and must be reported as such, never in its place.

    Parameters
    ----------
    prediction, truth : (M, N) ndarray of bool or int
        Foreground masks; every non-zero pixel is foreground.

    Returns
    -------
    float
        ``max(IoU(P, T), IoU(not P, T))``.

    Examples
    --------
    >>> best_assignment_iou(np.array([[0, 0, 1, 1]]), np.array([[1, 1, 0, 0]]))
    1.0
    """
    prediction, truth = _check_pair(prediction, truth)
    foreground = prediction != 0
    truth = truth != 0
    return float(max(_iou(foreground, truth), _iou(~foreground, truth)))


def best_iou_per_segment(prediction, truth) -> np.ndarray:
    """For every ground-truth segment, its best IoU with any predicted segment.

    Parameters
    ----------
    prediction, truth : (M, N) ndarray of int
        Label maps; each distinct value is one segment (use
        `dfc_score` to split the prediction into connected components first).

    Returns
    -------
    (S,) float64 ndarray
        One value per distinct label of `truth`, in increasing label order.

    Examples
    --------
    >>> best_iou_per_segment(np.array([[1, 1, 2, 2]]), np.array([[5, 5, 5, 7]]))
    array([0.66666667, 0.5       ])
    """
    prediction, truth = _check_pair(prediction, truth)
    return _best_iou(_contingency(prediction, truth))


@dataclass(frozen=True)
class DFCScore:
    """Best IoU of every ground-truth segment, the DFC protocol's raw material.

    The dataset score is the mean over the segments of all images, so keep
    these arrays (or their sums and lengths) and average at the end, not the
    per-image means.

    Attributes
    ----------
    all : (S,) ndarray
        Best IoU of every segment of every annotator.
    fine : (S_f,) ndarray
        Those of the annotator with the most segments.
    coarse : (S_c,) ndarray
        Those of the annotator with the fewest segments.
    """

    all: np.ndarray
    fine: np.ndarray
    coarse: np.ndarray


def dfc_score(prediction, truths, *, connectivity=None) -> DFCScore:
    """Score a segmentation by the mIoU protocol of Kim, Kanezaki and Tanaka [1]_.

    The prediction is split into connected components (a label that occurs
    in two separate places is two segments); then every ground-truth segment
    of every annotator gets the IoU of the predicted component that overlaps
    it best.

    Parameters
    ----------
    prediction : (M, N) ndarray of int
        Predicted labels.
    truths : sequence of (M, N) ndarray of int, or one (M, N) ndarray
        Ground truth of one or more annotators.
    connectivity : int, optional
        Neighbourhood of the connected components, as in
        `skimage.measure.label`: 1 for 4-connected, 2 or None for
        8-connected.

    Returns
    -------
    DFCScore

    Raises
    ------
    ValueError
        If a map is not an integer label map, the shapes differ, or
        `connectivity` is out of range.

    Examples
    --------
    >>> truth = np.array([[1, 1, 2, 2]])
    >>> score = dfc_score(np.array([[3, 4, 4, 3]]), truth)
    >>> score.all
    array([0.5, 0.5])
    """
    from skimage.measure import label

    prediction, truths = _check_truths(prediction, truths)
    if connectivity is not None:
        check_int("connectivity", connectivity)
        if connectivity > prediction.ndim:
            raise ValueError(f"connectivity={connectivity} must be at most the maps' {prediction.ndim} dimensions")
    # Labels shifted to start at 1 so that no user label collides with
    # skimage's background value 0.
    _, index = np.unique(prediction, return_inverse=True)
    components = label(index.reshape(prediction.shape) + 1, background=0, connectivity=connectivity)
    per_annotator = [best_iou_per_segment(components, truth) for truth in truths]
    sizes = [len(ious) for ious in per_annotator]
    return DFCScore(
        all=np.concatenate(per_annotator),
        fine=per_annotator[int(np.argmax(sizes))],
        coarse=per_annotator[int(np.argmin(sizes))],
    )


def _covering(table: _Contingency) -> float:
    """Covering of the second map's segments by the first map's (see `segmentation_covering`)."""
    return float(np.sum(_best_iou(table) * table.col_sizes) / np.sum(table.col_sizes))


def segmentation_covering(prediction, truths) -> float:
    """How well the predicted segments cover the ground-truth segments [2]_.

    For each annotator, every true segment R contributes ``|R| * max IoU(R, R')``
    over the predicted segments R'; the sum is divided by the number of pixels.
    The result is averaged over the annotators.

    Parameters
    ----------
    prediction : (M, N) ndarray of int
        Predicted labels, scored as given (not split into components).
    truths : sequence of (M, N) ndarray of int, or one (M, N) ndarray
        Ground truth of one or more annotators.

    Returns
    -------
    float
        In (0, 1]; 1 when the prediction equals every annotator's map up to
        relabelling.

    Examples
    --------
    >>> segmentation_covering(np.array([[1, 1, 1, 1]]), np.array([[1, 1, 2, 2]]))
    0.5
    """
    prediction, truths = _check_truths(prediction, truths)
    return float(np.mean([_covering(_contingency(prediction, t)) for t in truths]))


def _pairs(n):
    return n * (n - 1) / 2.0


def _rand_index(table: _Contingency) -> float:
    n = float(table.row_sizes.sum())
    if n < 2:
        return 1.0
    total = _pairs(n)
    together_both = np.sum(_pairs(table.counts.astype(np.float64)))
    together_first = np.sum(_pairs(table.row_sizes.astype(np.float64)))
    together_second = np.sum(_pairs(table.col_sizes.astype(np.float64)))
    agreements = total + 2.0 * together_both - together_first - together_second
    return float(agreements / total)


def rand_index(prediction, truth) -> float:
    """Fraction of pixel pairs on which two label maps agree.

    A pair agrees when both maps put its pixels in the same segment, or both
    put them in different segments.

    Parameters
    ----------
    prediction, truth : (M, N) ndarray of int
        Label maps.

    Returns
    -------
    float
        In [0, 1]; 1 for maps equal up to relabelling.

    Examples
    --------
    >>> rand_index(np.array([[1, 1, 2, 2]]), np.array([[7, 7, 3, 3]]))
    1.0
    """
    prediction, truth = _check_pair(prediction, truth)
    return _rand_index(_contingency(prediction, truth))


def probabilistic_rand_index(prediction, truths) -> float:
    """Probabilistic Rand index against several annotators [2]_.

    The fraction of pixel pairs on which the prediction agrees with the
    annotators, each pair weighted by how many annotators agree; this equals
    the mean of the Rand indices against each annotator.

    Parameters
    ----------
    prediction : (M, N) ndarray of int
        Predicted labels.
    truths : sequence of (M, N) ndarray of int, or one (M, N) ndarray
        Ground truth of one or more annotators.

    Returns
    -------
    float
        In [0, 1], higher is better.

    Examples
    --------
    >>> truths = [np.array([[1, 1, 2, 2]]), np.array([[1, 1, 1, 1]])]
    >>> round(probabilistic_rand_index(np.array([[1, 1, 2, 2]]), truths), 4)
    0.6667
    """
    prediction, truths = _check_truths(prediction, truths)
    return float(np.mean([_rand_index(_contingency(prediction, t)) for t in truths]))


def _entropy(counts: np.ndarray, n: float) -> float:
    p = counts[counts > 0] / n
    return float(-np.sum(p * np.log(p)))


def variation_of_information(prediction, truths) -> float:
    """Variation of information ``H(P|T) + H(T|P)`` in nats, averaged over annotators [2]_.

    Parameters
    ----------
    prediction : (M, N) ndarray of int
        Predicted labels.
    truths : sequence of (M, N) ndarray of int, or one (M, N) ndarray
        Ground truth of one or more annotators.

    Returns
    -------
    float
        Non-negative, lower is better; 0 for maps equal up to relabelling.

    Examples
    --------
    >>> variation_of_information(np.array([[1, 1, 2, 2]]), np.array([[1, 1, 1, 1]]))
    0.6931471805599453
    """
    prediction, truths = _check_truths(prediction, truths)
    values = []
    for truth in truths:
        table = _contingency(prediction, truth)
        n = float(table.row_sizes.sum())
        joint = _entropy(table.counts, n)
        values.append(2.0 * joint - _entropy(table.row_sizes, n) - _entropy(table.col_sizes, n))
    return float(np.mean(values))


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels of a (checked) label map next to another label, on both sides of every boundary.

    The labels are renumbered from 1 first: `find_boundaries` treats 0 as
    background and would mark only the other side of its boundaries, so a
    partition's boundaries would depend on which of its labels is 0.
    """
    from skimage.segmentation import find_boundaries

    _, index = np.unique(labels, return_inverse=True)
    return find_boundaries(index.reshape(labels.shape) + 1, mode="inner")


def boundary_irregularity(labels) -> float:
    """Length of a partition's boundaries relative to compact regions of the same number.

    The number of boundary pixels divided by ``sqrt(regions * pixels)``:
    about 2 to 3 for compact regions such as a regular grid, whatever their
    number, and larger when boundaries wander along texture or noise (the
    DSP paper's figure 9 shows this for SLIC superpixels).

    Parameters
    ----------
    labels : (M, N) ndarray of int
        A partition, e.g. SLIC superpixels.

    Returns
    -------
    float
        0 for a single region. Only the partition counts, not its label
        values (0 is a label like any other).

    Examples
    --------
    >>> grid = np.kron(np.arange(16).reshape(4, 4), np.ones((8, 8), int))
    >>> round(boundary_irregularity(grid), 2)
    2.72
    """
    labels = _as_label_map("labels", labels)
    n_regions = np.unique(labels).size
    boundary = np.count_nonzero(_boundaries(labels))
    return float(boundary / np.sqrt(n_regions * labels.size))


def boundary_recall(prediction, truth, *, tolerance=2) -> float:
    """Share of the true boundary pixels that lie near a predicted boundary.

    The standard superpixel measure: a boundary pixel of `truth` counts as
    found when a boundary pixel of `prediction` lies within `tolerance`
    pixels (chessboard distance).

    Parameters
    ----------
    prediction, truth : (M, N) ndarray of int or bool
        Partitions (e.g. superpixels and a ground-truth mask).
    tolerance : int, optional
        Allowed distance in pixels.

    Returns
    -------
    float
        In [0, 1]; 1.0 when `truth` has no boundary. Only the partitions
        count, not their label values (0 is a label like any other).

    Raises
    ------
    ValueError
        If a map is not an integer label map, the shapes differ, or
        `tolerance` is not an integer >= 0.

    Examples
    --------
    >>> truth = np.repeat([[1, 1, 1, 2, 2, 2]], 4, axis=0)
    >>> boundary_recall(np.repeat([[1, 1, 2, 2, 2, 2]], 4, axis=0), truth, tolerance=1)
    1.0
    """
    from scipy.ndimage import binary_dilation

    prediction, truth = _check_pair(prediction, truth)
    check_int("tolerance", tolerance, low=0)
    true_boundary = _boundaries(truth)
    if not true_boundary.any():
        return 1.0
    found = _boundaries(prediction)
    if tolerance:  # iterations=0 would dilate until nothing changes
        found = binary_dilation(found, np.ones((3,) * found.ndim, bool), iterations=int(tolerance))
    return float(np.count_nonzero(true_boundary & found) / np.count_nonzero(true_boundary))
