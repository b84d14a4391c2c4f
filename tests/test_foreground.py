"""Object-level foreground: saliency + graph cut, on synthetic scenes with known masks."""

import numpy as np
import pytest

from napari_dsp.foreground import (
    ForegroundResult,
    foreground_segmentation,
    saliency_map,
    saliency_rule,
)
from napari_dsp.kmeans import foreground_background


def _iou(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return (a & b).sum() / (a | b).sum()


def _scene(shape=(96, 112), seed=0):
    """A textured red object inside the frame on a background of two colour zones (blue | green)."""
    rng = np.random.default_rng(seed)
    height, width = shape
    image = np.empty(shape + (3,), np.float32)
    image[:, : width // 2] = (0.2, 0.25, 0.8)
    image[:, width // 2:] = (0.2, 0.8, 0.25)
    truth = np.zeros(shape, bool)
    rows, cols = np.ogrid[:height, :width]
    truth[(rows - height / 2) ** 2 / (0.3 * height) ** 2 + (cols - width / 2) ** 2 / (0.25 * width) ** 2 < 1] = True
    image[truth] = (0.85, 0.3, 0.25)
    image += rng.uniform(-0.12, 0.12, image.shape).astype(np.float32)  # texture everywhere
    return np.clip(image, 0, 1), truth


def test_object_found_where_kmeans_split_fails():
    image, truth = _scene()
    result = foreground_segmentation(image, channel_axis=-1, seed=0)
    assert isinstance(result, ForegroundResult)
    assert _iou(result.mask, truth) > 0.9
    # The colour split of 2-class KMeans separates the two background zones instead.
    kmeans = foreground_background(image, window=7, channel_axis=-1, seed=0)
    assert _iou(kmeans, truth) < 0.7


def test_saliency_map_and_rule():
    image, truth = _scene()
    saliency = saliency_map(image, channel_axis=-1)
    assert saliency.dtype == np.float32 and saliency.shape == truth.shape
    assert 0 <= saliency.min() and saliency.max() <= 1
    assert saliency[truth].mean() > saliency[~truth].mean() + 0.3
    labels = np.where(truth, 7, 3)
    assert saliency_rule(labels, saliency) == 7
    assert saliency_rule(np.where(truth, 1, 2), 1 - saliency) == 2


def _two_objects(shape=(90, 120)):
    """A red and a blue square on grey, neither touching the border: one at the centre, one near a corner."""
    image = np.full(shape + (3,), 0.5, np.float32)
    central = np.zeros(shape, bool)
    central[35:55, 50:70] = True
    corner = np.zeros(shape, bool)
    corner[6:26, 8:28] = True
    image[central] = (0.85, 0.2, 0.2)
    image[corner] = (0.2, 0.2, 0.85)
    return image, central, corner


def test_center_prior_picks_the_central_of_two_distinct_objects():
    image, central, corner = _two_objects()
    plain = saliency_map(image, channel_axis=-1, center_sigma=0)
    assert plain[central].mean() > 0.8 and plain[corner].mean() > 0.6
    weighted = saliency_map(image, channel_axis=-1)
    assert weighted[central].mean() > 0.8 and weighted[corner].mean() < 0.3
    mask = foreground_segmentation(image, channel_axis=-1).mask.astype(bool)
    assert _iou(mask, central) > 0.9
    both = foreground_segmentation(image, channel_axis=-1, center_sigma=0).mask.astype(bool)
    assert _iou(both, central | corner) > 0.9


def test_saliency_rule_errors():
    with pytest.raises(ValueError, match="shape"):
        saliency_rule(np.zeros((3, 3), int), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="integer"):
        saliency_rule(np.zeros((3, 3)), np.zeros((3, 3)))


def test_deterministic_and_input_untouched():
    image, _ = _scene(seed=1)
    copy = image.copy()
    first = foreground_segmentation(image, channel_axis=-1, seed=3)
    second = foreground_segmentation(image, channel_axis=-1, seed=3)
    np.testing.assert_array_equal(first.mask, second.mask)
    np.testing.assert_array_equal(first.saliency, second.saliency)
    np.testing.assert_array_equal(image, copy)


@pytest.mark.parametrize("shape", [(33, 47), (47, 33), (2, 2), (5, 61)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_shapes_and_dtypes_grayscale(shape, dtype):
    rng = np.random.default_rng(0)
    image = (rng.random(shape) * 200).astype(dtype)
    result = foreground_segmentation(image)
    assert result.mask.shape == shape and result.mask.dtype == np.uint8
    assert set(np.unique(result.mask)) <= {0, 1}
    assert result.saliency.shape == shape and result.saliency.dtype == np.float32


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_channel_axis(channel_axis):
    image, truth = _scene((64, 72))
    moved = np.moveaxis(image, -1, channel_axis)
    result = foreground_segmentation(moved, channel_axis=channel_axis)
    assert result.mask.shape == truth.shape
    assert _iou(result.mask, truth) > 0.8


def test_grayscale_object():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 0.2, (60, 80))
    image[:, 40:] += 0.3  # two background zones
    image[15:45, 25:55] = rng.uniform(0.8, 1.0, (30, 30))
    truth = np.zeros(image.shape, bool)
    truth[15:45, 25:55] = True
    assert _iou(foreground_segmentation(image).mask, truth) > 0.85


def test_constant_image_is_background():
    result = foreground_segmentation(np.full((20, 30), 5.0))
    assert not result.mask.any()
    assert np.all(result.saliency == 0)


@pytest.mark.parametrize(
    "option, value, match",
    [
        ("n_segments", 1, "n_segments=1"),
        ("n_segments", 2.5, "n_segments"),
        ("compactness", 0, "compactness=0"),
        ("color_sigma", -1.0, "color_sigma"),
        ("center_sigma", -0.1, "center_sigma=-0.1"),
        ("smoothness", -0.5, "smoothness"),
        ("iterations", 0, "iterations=0"),
        ("graph_cut", "yes", "graph_cut"),
    ],
)
def test_bad_options(option, value, match):
    with pytest.raises(ValueError, match=match):
        foreground_segmentation(np.zeros((10, 10)), **{option: value})


def test_bad_images():
    with pytest.raises(ValueError, match="channel_axis"):
        foreground_segmentation(np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        foreground_segmentation(np.full((10, 10), np.nan))


@pytest.mark.parametrize("channels", [2, 4])
def test_other_channel_counts(channels):
    image, truth = _scene((48, 56))
    stacked = np.concatenate([image, image[..., :1]], axis=-1)[..., :channels]
    result = foreground_segmentation(stacked, channel_axis=-1)
    assert result.mask.shape == truth.shape and result.saliency.shape == truth.shape


def test_saliency_from_a_prior_and_the_cut_on_the_image():
    image, truth = _scene()
    # A stand-in prior: the scene's flat colours without texture, so its saliency is the cleaner one.
    smooth = np.clip(_scene(seed=0)[0] * 0 + np.where(truth[..., None], (0.85, 0.3, 0.25), 0.2), 0, 1)
    smooth[:, : truth.shape[1] // 2, 2] = np.where(truth[:, : truth.shape[1] // 2], 0.25, 0.8)
    smooth[:, truth.shape[1] // 2:, 1] = np.where(truth[:, truth.shape[1] // 2:], 0.3, 0.8)
    hybrid = foreground_segmentation(image, prior=smooth.astype(np.float32), channel_axis=-1)
    assert _iou(hybrid.mask, truth) > 0.9
    np.testing.assert_allclose(hybrid.saliency, saliency_map(smooth, channel_axis=-1), atol=1e-6)
    with pytest.raises(ValueError, match="prior has shape"):
        foreground_segmentation(image, prior=smooth[:10], channel_axis=-1)


def test_image_too_large_for_memory_is_segmented_smaller(monkeypatch):
    from types import SimpleNamespace

    from napari_dsp import foreground

    image, truth = _scene()
    available = 2 * foreground._BYTES_PER_PIXEL * truth.size / 4
    monkeypatch.setattr("napari_dsp._memory.psutil.virtual_memory", lambda: SimpleNamespace(available=available))
    with pytest.warns(UserWarning, match=r"segmenting it at 48 x 56") as record:
        result = foreground_segmentation(image, prior=image, channel_axis=-1)
    assert len(record) == 1  # one warning for the image and its prior
    assert result.mask.shape == truth.shape and result.mask.dtype == np.uint8
    assert result.saliency.shape == truth.shape and result.saliency.dtype == np.float32
    assert _iou(result.mask, truth) > 0.9
    with pytest.warns(UserWarning, match=r"segmenting it at 48 x 56"):
        assert saliency_map(image, channel_axis=-1).shape == truth.shape
