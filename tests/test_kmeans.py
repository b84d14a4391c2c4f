import tracemalloc

import numpy as np
import pytest

from napari_dsp import kmeans
from napari_dsp.kmeans import foreground_background, kmeans_segmentation


def _quadrants():
    """Four flat quadrants with distinct grey values; truth labels 1..4 from dark to bright."""
    truth = np.ones((24, 30), dtype=np.int32)
    truth[:12, 15:] = 3
    truth[12:, :15] = 2
    truth[12:, 15:] = 4
    return truth


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
@pytest.mark.parametrize("channel_axis", [None, 0, -1])
def test_flat_regions_are_recovered_and_numbered_by_brightness(dtype, channel_axis):
    truth = _quadrants()
    grey = (truth * 50).astype(dtype)
    image = grey if channel_axis is None else np.stack([grey, grey // 2, grey], axis=channel_axis)
    before = image.copy()

    labels = kmeans_segmentation(image, 4, window=1, channel_axis=channel_axis, seed=0)

    assert labels.dtype == np.int32 and labels.shape == truth.shape
    np.testing.assert_array_equal(labels, truth)
    np.testing.assert_array_equal(image, before)


def test_window_features_keep_regions_apart(region_ious):
    truth = np.zeros((30, 40), dtype=np.int32)
    truth[:, 20:] = 1
    truth[10:22, 5:15] = 2
    image = np.array([[0.0, 0.0, 0.9], [0.9, 0.1, 0.0], [0.0, 0.8, 0.1]])[truth]

    labels = kmeans_segmentation(image, 3, window=5, channel_axis=-1, seed=0)

    assert region_ious(labels, truth).min() > 0.9


def test_prior_is_segmented_better_than_raw_image(noisy_regions, region_ious):
    from napari_dsp.prior import deep_segmentation_prior

    image, truth = noisy_regions
    prior = deep_segmentation_prior(image, iterations=50, restarts=3, channel_axis=-1, seed=0)

    on_prior = region_ious(kmeans_segmentation(prior, 3, window=7, channel_axis=-1, seed=0), truth)
    on_raw = region_ious(kmeans_segmentation(image, 3, window=1, channel_axis=-1, seed=0), truth)

    assert on_prior.min() > 0.9, on_prior
    assert on_prior.mean() > on_raw.mean() + 0.2, (on_prior, on_raw)


@pytest.mark.parametrize("invert", [False, True])
def test_foreground_is_the_class_away_from_the_border(invert):
    image = np.zeros((40, 50), dtype=np.uint8)
    image[10:30, 15:35] = 200
    if invert:  # the rule is about the border, not brightness
        image = 200 - image

    mask = foreground_background(image, window=5, seed=0)

    assert mask.dtype == np.int32
    square = np.zeros(image.shape, dtype=bool)
    square[10:30, 15:35] = True
    # Only the square's four corner pixels may go to the background: their windows lie mostly outside.
    assert mask[square].sum() >= square.sum() - 4
    assert not mask[~square].any()


def test_foreground_of_a_constant_image_is_empty():
    with pytest.warns(Warning):  # KMeans warns that it found one distinct cluster
        mask = foreground_background(np.full((10, 10), 3.0), window=3, seed=0)
    assert not mask.any()


def test_one_cluster_labels_everything_one():
    labels = kmeans_segmentation(np.random.default_rng(0).random((9, 9)), 1, window=3)
    assert (labels == 1).all()


def test_seed_makes_runs_repeatable():
    image = np.random.default_rng(1).random((30, 30, 3))
    first = kmeans_segmentation(image, 3, window=3, channel_axis=-1, seed=5)
    second = kmeans_segmentation(image, 3, window=3, channel_axis=-1, seed=5)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"window": 4}, "odd positive integer"),
        ({"window": 0}, "odd positive integer"),
        ({"window": 2.0}, "odd positive integer"),
        ({"window": 13}, "larger than the 12 x 20 image"),
        ({"n_clusters": 0}, "from 1 to the number of pixels"),
        ({"n_clusters": 241}, r"number of pixels \(240\)"),
        ({"channel_axis": 2}, "channel_axis=2"),
        ({"max_samples": 1}, "max_samples"),
        ({"n_init": 0}, "n_init"),
    ],
)
def test_bad_options_raise_value_error(options, message):
    with pytest.raises(ValueError, match=message):
        kmeans_segmentation(np.zeros((12, 20)), **{"n_clusters": 2, **options})


def test_subsampled_fit_and_chunked_predict_match_full_fit(monkeypatch):
    truth = np.kron(_quadrants(), np.ones((2, 2), dtype=np.int32))  # 48 x 60 = 2880 pixels
    image = truth * 0.25 + np.random.default_rng(2).normal(0.0, 0.02, truth.shape)
    full = kmeans_segmentation(image, 4, window=1, seed=0)
    monkeypatch.setattr(kmeans, "_CHUNK_ELEMENTS", 60 * 3)  # three rows per chunk
    subsampled = kmeans_segmentation(image, 4, window=1, seed=0, max_samples=300)

    np.testing.assert_array_equal(full, truth)
    np.testing.assert_array_equal(subsampled, full)


def test_large_image_memory_stays_below_its_window_features():
    # Above max_samples every pixel is assigned chunk by chunk, so the
    # (M * N, window**2) feature matrix (49 MiB here) never exists at once.
    rng = np.random.default_rng(3)
    image = (rng.random((512, 512)) < 0.5).astype(np.float32)
    feature_bytes = image.size * 49 * 4

    tracemalloc.start()
    try:
        labels = kmeans_segmentation(image, 2, window=7, seed=0, max_samples=16384)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert labels.shape == image.shape and set(np.unique(labels)) == {1, 2}
    assert peak < feature_bytes / 2, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("rule", ["saliency", "border"])
def test_both_foreground_rules_find_a_central_object(rule):
    image = np.full((40, 48, 3), 0.2, np.float32)
    image[12:28, 14:34] = (0.9, 0.5, 0.1)
    mask = foreground_background(image, window=3, channel_axis=-1, seed=0, rule=rule)
    assert mask[20, 24] == 1 and mask[2, 2] == 0 and abs(int(mask.sum()) - 16 * 20) <= 8  # window-rounded corners


def test_unknown_foreground_rule_is_named():
    with pytest.raises(ValueError, match="rule='middle' is not one of 'saliency', 'border'"):
        foreground_background(np.zeros((10, 10)), rule="middle")


def test_a_constant_image_is_one_class_with_a_warning():
    with pytest.warns(UserWarning, match="constant"):
        labels = kmeans_segmentation(np.full((12, 14, 3), 7, np.uint8), 3, window=3, channel_axis=-1, seed=0)
    assert labels.dtype == np.int32 and np.all(labels == 1)
    with pytest.warns(UserWarning, match="constant"):
        assert not foreground_background(np.zeros((12, 14)), window=3).any()
