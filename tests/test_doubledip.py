"""Double-DIP on synthetic two-layer images."""

import numpy as np
import pytest

from napari_dsp.doubledip import double_dip_segmentation, guided_filter
from napari_dsp.progress import Cancelled

TINY = dict(max_size=32, hint_iterations=50, iterations=100, seed=0, device="cpu")


def two_layers(shape=(48, 56), seed=0):
    """An object with its own stripes over a background with another texture, and the object's mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = (yy - shape[0] / 2) ** 2 / 14**2 + (xx - shape[1] / 2) ** 2 / 17**2 < 1
    background = np.stack([0.2 + 0.15 * rng.random(shape), 0.45 + 0.1 * np.sin(xx / 2.0), 0.3 + 0 * xx], -1)
    foreground = np.stack([0.85 + 0.1 * np.sin(yy / 1.5), 0.3 + 0.1 * rng.random(shape), 0.2 + 0 * xx], -1)
    image = np.where(truth[..., None], foreground, background).astype(np.float32)
    return image, truth


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_mask_separates_two_textured_layers():
    image, truth = two_layers()
    hint = truth.astype(float)  # a coarse saliency hint: the object's area
    hint = np.clip(hint * 0.8 + 0.1 + np.random.default_rng(1).normal(0, 0.05, truth.shape), 0, 1)
    result = double_dip_segmentation(image, hint=hint, channel_axis=-1, **TINY)
    assert iou(result.mask == 1, truth) > 0.9
    assert result.mask.shape == truth.shape and result.mask.dtype == np.int32
    assert result.foreground.shape == image.shape and result.soft_mask.dtype == np.float32
    assert 1 <= result.iterations <= TINY["iterations"]


def test_default_hint_is_our_saliency():
    image, truth = two_layers()
    assert iou(double_dip_segmentation(image, channel_axis=-1, **TINY).mask == 1, truth) > 0.8


def test_the_seed_repeats():
    image, _ = two_layers((24, 24))
    options = dict(TINY, hint_iterations=5, iterations=5)
    first, second = (double_dip_segmentation(image, hint=np.eye(24), channel_axis=-1, **options) for _ in range(2))
    np.testing.assert_array_equal(first.soft_mask, second.soft_mask)


def test_progress_and_cancel():
    image, _ = two_layers((24, 24))
    steps = []
    options = dict(TINY, hint_iterations=3, iterations=4)
    double_dip_segmentation(image, hint=np.ones((24, 24)) * 0.5, channel_axis=-1,
                            callback=lambda p: steps.append((p.step, p.total, p.stage)), **options)
    assert steps[0] == (1, 7, "doubledip") and steps[-1][0] <= 7
    with pytest.raises(Cancelled):
        double_dip_segmentation(image, channel_axis=-1, callback=lambda p: False, **options)


@pytest.mark.parametrize("options, message", [
    (dict(max_size=4), "max_size=4 must be 0"),
    (dict(iterations=0), "iterations=0"),
    (dict(learning_rate=True), "learning_rate=True"),
    (dict(hint=np.zeros((3, 3))), "hint has shape"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        double_dip_segmentation(np.zeros((20, 20)), **options)


def test_guided_filter_keeps_the_guides_edges():
    guide = np.zeros((3, 30, 30))
    guide[:, :, 15:] = 1
    source = guide[0] + np.random.default_rng(0).normal(0, 0.3, (30, 30))
    out = guided_filter(guide, source, radius=5)
    assert np.abs(out - guide[0]).mean() < 0.5 * np.abs(source - guide[0]).mean()
