"""Property-based tests: the contracts of the scaling, KMeans, the metrics and the prior on generated inputs."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from skimage.measure import label as connected_components
from sklearn.exceptions import ConvergenceWarning

from napari_dsp._image import prepare_image
from napari_dsp.evaluation import metrics
from napari_dsp.kmeans import kmeans_segmentation
from napari_dsp.prior import deep_segmentation_prior

DTYPES = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64,
          np.float16, np.float32, np.float64]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _elements(dtype):
    """Any finite value of `dtype`, extremes included."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False)
    return hnp.from_dtype(dtype)


@st.composite
def images(draw, min_side=1, max_side=6, dtypes=DTYPES):
    """(image, channel_axis): a grey or 1-4 channel image of any dtype and any finite values."""
    dtype = draw(st.sampled_from(dtypes))
    height, width = draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    if channels is None:
        shape, channel_axis = (height, width), None
    else:
        channel_axis = draw(st.sampled_from([0, -1]))
        shape = (channels, height, width) if channel_axis == 0 else (height, width, channels)
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype))), channel_axis


@st.composite
def offset_images(draw):
    """A few distinct small steps on a large offset, where float32 arithmetic would lose them."""
    kind = draw(st.sampled_from(["int64", "uint64", "float64"]))
    steps = draw(hnp.arrays(np.int64, (4, 5), elements=st.integers(0, 10)))
    if kind == "float64":
        offset = draw(st.floats(-1e300, 1e300))
        step = max(abs(offset) * 1e-12, 1e-300)
        return offset + steps * step
    if kind == "int64":
        return (draw(st.integers(-2**62, 2**62)) + steps).astype(np.int64)
    return (np.uint64(draw(st.integers(0, 2**64 - 11))) + steps.astype(np.uint64)).astype(np.uint64)


def _check_scaled(image, channel_axis):
    scaled = prepare_image(image, channel_axis, min_size=1)
    data = scaled.data
    assert data.dtype == np.float32 and np.isfinite(data).all()
    assert data.min() >= 0 and data.max() <= 1
    chw = image[np.newaxis] if channel_axis is None else np.moveaxis(image, channel_axis, 0)
    # Order kept: sorted by the input's values (in its own exact dtype), the output never decreases.
    order = np.argsort(chw, axis=None, kind="stable")
    assert np.all(np.diff(data.ravel()[order]) >= 0)
    if chw.min() != chw.max():  # contrast kept: the extremes map to 0 and 1
        assert data.min() == 0 and data.max() == 1
        assert np.all(data.ravel()[chw.ravel() == chw.max()] == 1)
    else:
        assert np.all(data == 0)


@FAST
@given(images())
def test_scaling_is_finite_in_unit_range_and_keeps_order_and_contrast(case):
    _check_scaled(*case)


@FAST
@given(offset_images())
def test_scaling_keeps_small_steps_on_large_offsets(image):
    _check_scaled(image, None)
    # Each distinct step stays distinct: float32 spacing at 1 is far finer than 1/10 of the range.
    data = prepare_image(image, min_size=1).data[0]
    assert np.unique(data).size == np.unique(image).size


@settings(max_examples=25, deadline=None)
@given(images(min_side=1, max_side=10), st.integers(1, 4), st.sampled_from([1, 3]), st.integers(0, 2**32))
def test_kmeans_labels_are_one_to_k_and_keep_the_shape(case, n_clusters, window, seed):
    image, channel_axis = case
    height, width = image.shape if channel_axis is None else np.delete(image.shape, channel_axis)
    n_clusters = min(n_clusters, height * width)
    if window > min(height, width):
        with pytest.raises(ValueError, match=f"window={window} is larger than"):
            kmeans_segmentation(image, n_clusters, window=window, channel_axis=channel_axis, seed=seed)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct pixels than clusters
        labels = kmeans_segmentation(image, n_clusters, window=window, channel_axis=channel_axis, seed=seed)
    assert labels.shape == (height, width) and labels.dtype == np.int32
    assert set(np.unique(labels)) <= set(range(1, n_clusters + 1))


# --- metrics -----------------------------------------------------------------------------------------

label_maps = hnp.arrays(np.int64, st.tuples(st.integers(1, 7), st.integers(1, 7)), elements=st.integers(0, 3))


@st.composite
def map_pairs(draw):
    """Two label maps of one shape, and an injective renumbering of each (0 and huge labels included)."""
    first = draw(label_maps)
    second = draw(hnp.arrays(np.int64, first.shape, elements=st.integers(0, 3)))
    renumbered = []
    for labels in (first, second):
        values = np.unique(labels)
        new = draw(st.lists(st.integers(-2**40, 2**40), min_size=values.size, max_size=values.size, unique=True))
        renumbered.append(np.asarray(new, np.int64)[np.searchsorted(values, labels)])
    return first, second, renumbered[0], renumbered[1]


def _finite(value):
    assert np.all(np.isfinite(value)), value
    return value


@FAST
@given(map_pairs())
def test_rand_index_and_pri(case):
    first, second, first_renumbered, second_renumbered = case
    value = _finite(metrics.rand_index(first, second))
    assert 0 <= value <= 1
    assert value == pytest.approx(metrics.rand_index(second, first))
    assert value == pytest.approx(metrics.rand_index(first_renumbered, second_renumbered))
    assert metrics.rand_index(first, first_renumbered) == 1.0
    assert metrics.probabilistic_rand_index(first, [second, second_renumbered]) == pytest.approx(value)


@FAST
@given(map_pairs())
def test_variation_of_information(case):
    first, second, first_renumbered, second_renumbered = case
    value = _finite(metrics.variation_of_information(first, second))
    assert value >= -1e-12
    assert value == pytest.approx(metrics.variation_of_information(second, first), abs=1e-12)
    assert value == pytest.approx(metrics.variation_of_information(first_renumbered, second_renumbered), abs=1e-12)
    assert metrics.variation_of_information(first, first_renumbered) == pytest.approx(0, abs=1e-12)
    assert value <= np.log(first.size) + 1e-9  # the largest VI of n pixels


@FAST
@given(map_pairs())
def test_segmentation_covering_and_best_iou_per_segment(case):
    first, second, first_renumbered, second_renumbered = case
    value = _finite(metrics.segmentation_covering(first, second))
    assert 0 < value <= 1
    assert value == pytest.approx(metrics.segmentation_covering(first_renumbered, second_renumbered))
    assert metrics.segmentation_covering(first, first_renumbered) == pytest.approx(1)
    ious = _finite(metrics.best_iou_per_segment(first, second))
    assert ious.shape == (np.unique(second).size,) and np.all((ious > 0) & (ious <= 1))
    np.testing.assert_allclose(metrics.best_iou_per_segment(first_renumbered, second), ious)
    np.testing.assert_allclose(metrics.best_iou_per_segment(first, first_renumbered), 1)


@FAST
@given(map_pairs())
def test_dfc_score(case):
    first, second, first_renumbered, _ = case
    score = metrics.dfc_score(first, [second, first])
    for part in (score.all, score.fine, score.coarse):
        assert _finite(part).size and np.all((part > 0) & (part <= 1))
    np.testing.assert_allclose(metrics.dfc_score(first_renumbered, second).all, metrics.dfc_score(first, second).all)
    # A truth of connected segments is found perfectly by itself, whatever its numbers.
    components = connected_components(np.unique(first, return_inverse=True)[1].reshape(first.shape) + 1,
                                      background=0, connectivity=2)
    np.testing.assert_allclose(metrics.dfc_score(components, components * 7 - 3).all, 1)


@FAST
@given(map_pairs())
def test_foreground_ious(case):
    first, second, _, _ = case
    iou = _finite(metrics.foreground_iou(first, second))
    best = _finite(metrics.best_assignment_iou(first, second))
    assert 0 <= iou <= best <= 1
    assert iou == pytest.approx(metrics.foreground_iou(second, first))
    assert metrics.foreground_iou(first, first * 5) == 1.0  # non-zero labels are all foreground
    assert metrics.best_assignment_iou(first != 0, first == 0) == 1.0


@FAST
@given(map_pairs(), st.integers(0, 3))
def test_boundary_measures_depend_on_the_partition_only(case, tolerance):
    first, second, first_renumbered, second_renumbered = case
    irregularity = _finite(metrics.boundary_irregularity(first))
    assert irregularity >= 0
    assert irregularity == pytest.approx(metrics.boundary_irregularity(first_renumbered))
    assert (irregularity == 0) == (np.unique(first).size == 1)
    recall = _finite(metrics.boundary_recall(first, second, tolerance=tolerance))
    assert 0 <= recall <= 1
    assert recall == pytest.approx(metrics.boundary_recall(first_renumbered, second_renumbered, tolerance=tolerance))
    assert metrics.boundary_recall(first, first_renumbered, tolerance=tolerance) == 1.0


# --- prior --------------------------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(images(min_side=2, max_side=6, dtypes=[np.bool_, np.uint8, np.uint16, np.int32, np.float32]))
def test_prior_keeps_shape_dtype_and_range(case):
    image, channel_axis = case
    prior = deep_segmentation_prior(image, channel_axis=channel_axis, iterations=2, restarts=1, seed=0,
                                    device="cpu")
    assert prior.shape == image.shape and prior.dtype == np.float32
    assert np.isfinite(prior).all()
    # Within the input's range, as far as float32 rounding of its ends allows.
    low, high = np.float32(image.min()), np.float32(image.max())
    assert low <= prior.min() and prior.max() <= high
