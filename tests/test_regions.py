"""Multi-class regions: superpixels merged over a region adjacency graph."""

import numpy as np
import pytest

from napari_dsp.regions import region_segmentation


def _quadrants(shape=(80, 96), seed=0, channels=3):
    """Four textured regions of distinct colour, sprinkled with tiny specks that must be merged away."""
    rng = np.random.default_rng(seed)
    height, width = shape
    truth = np.ones(shape, np.int32)
    truth[: height // 2, width // 2:] = 2
    truth[height // 2:, : width // 2] = 3
    truth[height // 2:, width // 2:] = 4
    colours = np.array([(0.1, 0.1, 0.1), (0.9, 0.2, 0.2), (0.2, 0.8, 0.3), (0.3, 0.3, 0.9)], np.float32)
    if channels == 1:
        colours = np.array([[0.1], [0.4], [0.7], [1.0]], np.float32)
    image = colours[truth - 1] + rng.normal(0, 0.04, shape + (channels,)).astype(np.float32)
    for row, col in rng.integers(4, min(shape) - 6, (6, 2)):
        image[row:row + 2, col:col + 2] = 0.5  # specks of 4 pixels
    return np.clip(image, 0, 1), truth


def _best_match_iou(labels, truth):
    ious = []
    for t in np.unique(truth):
        ious.append(max(((labels == p) & (truth == t)).sum() / ((labels == p) | (truth == t)).sum()
                        for p in np.unique(labels[truth == t])))
    return np.array(ious)


def test_four_regions_recovered_and_specks_merged():
    image, truth = _quadrants()
    # The grey specks on the noisy black quadrant end up in superpixels of 30 to 60 pixels; a minimum
    # of 1 % (77 pixels) absorbs them.
    labels = region_segmentation(image, channel_axis=-1, min_size=0.01, seed=0)
    assert labels.dtype == np.int32 and labels.shape == truth.shape
    assert labels.min() == 1 and labels.max() == 4  # no fragment survives
    assert np.all(_best_match_iou(labels, truth) > 0.9)


def _shaded_surface(shade):
    """A surface whose lower half is `shade` units of CIE L darker, beside two other colours; and its truth."""
    from skimage.color import lab2rgb

    lab = np.zeros((80, 96, 3))
    lab[:, :48] = (60, 40, 30)
    lab[40:, :48, 0] -= shade
    lab[:40, 48:] = (55, 10, -45)
    lab[40:, 48:] = (55, -40, 30)
    truth = np.ones((80, 96), np.int32)
    truth[:40, 48:] = 2
    truth[40:, 48:] = 3
    rng = np.random.default_rng(0)
    return np.clip(lab2rgb(lab) + rng.normal(0, 0.03, lab.shape), 0, 1), truth


def test_lightness_weight_keeps_a_shaded_surface_whole():
    image, truth = _shaded_surface(5)
    labels = region_segmentation(image, channel_axis=-1)
    assert np.all(_best_match_iou(labels, truth) > 0.9)
    full = region_segmentation(image, channel_axis=-1, lightness_weight=1.0)
    assert full[5, 5] != full[75, 5]  # L counting as much as a and b splits the surface at its shadow
    # A deep shadow is an edge at the default, and nothing at weight 0.
    image, truth = _shaded_surface(25)
    default = region_segmentation(image, channel_axis=-1)
    assert default[5, 5] != default[75, 5]
    assert np.all(_best_match_iou(region_segmentation(image, channel_axis=-1, lightness_weight=0), truth) > 0.9)


def test_lightness_weight_leaves_other_images_alone():
    image, _ = _quadrants(channels=1)
    np.testing.assert_array_equal(region_segmentation(image[..., 0], lightness_weight=0),
                                  region_segmentation(image[..., 0]))


def test_grayscale_regions():
    image, truth = _quadrants(channels=1)
    labels = region_segmentation(image[..., 0])
    assert np.all(_best_match_iou(labels, truth) > 0.9)


def test_regions_are_connected_and_consecutive():
    from skimage.measure import label

    rng = np.random.default_rng(1)
    image = rng.random((50, 70, 3))
    labels = region_segmentation(image, channel_axis=-1)
    values = np.unique(labels)
    np.testing.assert_array_equal(values, np.arange(1, len(values) + 1))
    for value in values:
        assert label(labels == value, connectivity=1).max() == 1


def test_no_region_below_min_size():
    # Noise with a low threshold leaves hundreds of small regions, which grow by
    # absorbing each other before they pass the minimum.
    image = np.random.default_rng(2).random((60, 90, 3))
    for min_size in (0.01, 0.05):
        labels = region_segmentation(image, channel_axis=-1, threshold=0.5, min_size=min_size)
        sizes = np.bincount(labels.ravel())[1:]
        assert len(sizes) > 1 and sizes.min() >= min_size * labels.size


def test_threshold_controls_granularity():
    rng = np.random.default_rng(2)
    image = rng.random((60, 60, 3))
    fine = region_segmentation(image, channel_axis=-1, threshold=0.5, min_size=0.0)
    coarse = region_segmentation(image, channel_axis=-1, threshold=3.0, min_size=0.0)
    assert fine.max() > coarse.max()


def test_deterministic_and_input_untouched():
    image, _ = _quadrants(seed=3)
    copy = image.copy()
    np.testing.assert_array_equal(region_segmentation(image, channel_axis=-1, seed=1),
                                  region_segmentation(image, channel_axis=-1, seed=1))
    np.testing.assert_array_equal(image, copy)


@pytest.mark.parametrize("shape", [(2, 2), (3, 41), (37, 29)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_shapes_dtypes(shape, dtype):
    rng = np.random.default_rng(0)
    image = (rng.random(shape + (3,)) * 255).astype(dtype)
    labels = region_segmentation(image, channel_axis=-1)
    assert labels.shape == shape and labels.dtype == np.int32 and labels.min() == 1


@pytest.mark.parametrize("channel_axis", [0, 2, -1])
def test_channel_axis(channel_axis):
    image, truth = _quadrants((48, 64))
    labels = region_segmentation(np.moveaxis(image, -1, channel_axis), channel_axis=channel_axis)
    assert labels.shape == truth.shape
    assert np.all(_best_match_iou(labels, truth) > 0.9)


def test_constant_image_is_one_region():
    labels = region_segmentation(np.full((30, 30), 3.0))
    assert np.all(labels == 1)


@pytest.mark.parametrize(
    "option, value, match",
    [
        ("n_segments", 1, "n_segments=1"),
        ("compactness", 0.0, "compactness=0.0"),
        ("boundary_weight", -1, "boundary_weight=-1"),
        ("threshold", 0, "threshold=0"),
        ("min_size", 1.0, "min_size=1.0"),
        ("min_size", -0.1, "min_size"),
        ("linkage", "complete", "linkage='complete'"),
        ("lightness_weight", -0.5, "lightness_weight=-0.5"),
    ],
)
def test_bad_options(option, value, match):
    with pytest.raises(ValueError, match=match):
        region_segmentation(np.zeros((10, 10)), **{option: value})


def test_bad_image():
    with pytest.raises(ValueError, match="channel_axis"):
        region_segmentation(np.zeros((10, 10)), channel_axis=-1)


@pytest.mark.parametrize("channels", [2, 4])
def test_other_channel_counts(channels):
    image, truth = _quadrants((48, 64))
    stacked = np.concatenate([image, image[..., :1]], axis=-1)[..., :channels]
    labels = region_segmentation(stacked, channel_axis=-1)
    assert labels.shape == truth.shape and labels.min() == 1


def test_slic_and_other_linkages():
    image, truth = _quadrants()
    for options in ({"superpixels": "slic", "linkage": "adaptive"}, {"linkage": "single", "threshold": 2.0},
                    {"linkage": "average", "threshold": 2.0}):
        labels = region_segmentation(image, channel_axis=-1, **options)
        assert np.median(_best_match_iou(labels, truth)) > 0.8, options


def test_image_too_large_for_memory_is_segmented_smaller(monkeypatch):
    from types import SimpleNamespace

    from skimage.measure import label

    from napari_dsp import regions

    image, truth = _quadrants()
    # Free memory for a quarter of the pixels: the method works at half the size and enlarges the labels.
    available = 2 * regions._BYTES_PER_PIXEL * truth.size / 4
    monkeypatch.setattr("napari_dsp._memory.psutil.virtual_memory", lambda: SimpleNamespace(available=available))
    with pytest.warns(UserWarning, match=r"segmenting it at 40 x 48"):
        labels = region_segmentation(image, channel_axis=-1)
    assert labels.shape == truth.shape and labels.dtype == np.int32
    assert np.all(_best_match_iou(labels, truth) > 0.9)
    for value in np.unique(labels):
        assert label(labels == value, connectivity=1).max() == 1
