"""The shared boundary validation in `napari_dsp._image` and `_device`, and that every entry point uses it."""

import math

import numpy as np
import pytest

from napari_dsp._device import resolve_device
from napari_dsp._image import check_channel_axis, check_number, check_seed, prepare_image
from napari_dsp.backprop import BackpropOptions, backprop_segmentation
from napari_dsp.evaluation.benchmark import plan_jobs
from napari_dsp.kmeans import kmeans_segmentation
from napari_dsp.pipeline import segment
from napari_dsp.prior import deep_segmentation_prior

FAST_PRIOR = dict(iterations=2, restarts=1, device="cpu")
FAST_BACKPROP = dict(max_iterations=2, warmup=0, n_features=4, device="cpu")


def _two_halves(low, high, dtype):
    image = np.full((8, 8), low, dtype=dtype)
    image[:, 4:] = high
    return image


@pytest.mark.parametrize(
    "low, high, dtype",
    [
        (-3e38, 3e38, np.float32),  # the span overflows float32
        (-1.7e308, 1.7e308, np.float64),  # ... and float64
        (1_000_000_000, 1_000_000_010, np.int64),  # a small range on a large offset
        (1e8, 1e8 + 1, np.float64),
        (2**64 - 2, 2**64 - 1, np.uint64),  # neighbours float64 cannot tell apart
        (-2**63, 2**63 - 1, np.int64),  # the whole int64 range
        (0, 5e-324, np.float64),  # subnormal
    ],
)
def test_scaling_keeps_contrast_without_overflow(low, high, dtype):
    image = _two_halves(low, high, dtype)

    scaled = prepare_image(image)

    assert scaled.data.dtype == np.float32
    np.testing.assert_array_equal(scaled.data[0], _two_halves(0, 1, np.float32))
    assert np.unique(kmeans_segmentation(image, 2, window=1, seed=0)[:, 4:]).tolist() == [2]


def test_restore_inverts_the_scaling_in_the_input_scale():
    image = np.array([[-7.5, 2.0], [100.0, 3.25]])
    scaled = prepare_image(image)
    np.testing.assert_allclose(scaled.restore(scaled.data), image, rtol=1e-6)
    np.testing.assert_allclose(scaled.to_unit(image), scaled.data[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(value=True, low=0, low_open=True), "lr=True must be a finite number > 0"),
        (dict(value=math.inf, low=0, low_open=True), "lr=inf must be a finite number > 0"),
        (dict(value=math.nan), "lr=nan must be a finite number"),
        (dict(value="0.1", low=0), "lr='0.1' must be a finite number >= 0"),
        (dict(value=0, low=0, high=1, low_open=True), r"lr=0 must be a number in \(0, 1\]"),
        (dict(value=2, high=1, hint="e.g. 0.5"), "lr=2 must be a finite number <= 1; e.g. 0.5"),
    ],
)
def test_check_number_rejects_non_numbers_and_out_of_range(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_number("lr", **kwargs)


def test_check_number_accepts_numpy_scalars():
    assert check_number("lr", np.float32(0.5), 0, 1) == 0.5
    assert check_number("lr", np.int64(1), 0, 1) == 1.0


@pytest.mark.parametrize("seed", [-1, 2**63, True, 1.5, "0", np.random.default_rng(0)])
def test_check_seed_names_the_parameter_and_range(seed):
    with pytest.raises(ValueError, match=r"^seed=.* must be None or an integer in \[0, 2\*\*63\)$"):
        check_seed(seed)


def test_check_seed_passes_valid_seeds():
    generator = np.random.default_rng(0)
    assert check_seed(None) is None and check_seed(np.uint8(3)) == 3 and check_seed(2**63 - 1) == 2**63 - 1
    assert check_seed(generator, generator=True) is generator


@pytest.mark.parametrize(
    "call",
    [
        lambda seed: deep_segmentation_prior(np.zeros((8, 8)), seed=seed, **FAST_PRIOR),
        lambda seed: kmeans_segmentation(np.zeros((8, 8)), 2, window=1, seed=seed),
        lambda seed: backprop_segmentation(np.zeros((8, 8)), seed=seed, **FAST_BACKPROP),
        lambda seed: plan_jobs("foreground", seed=seed),
        lambda seed: segment(np.zeros((8, 8)), seed=seed, **FAST_PRIOR),
    ],
    ids=["prior", "kmeans", "backprop", "benchmark", "segment"],
)
def test_every_seed_error_names_the_parameter(call):
    with pytest.raises(ValueError, match=r"^seed=-1 must be None"):
        call(-1)


@pytest.mark.parametrize("channel_axis", [True, 1.5, "-1"])
def test_channel_axis_must_be_an_integer(channel_axis):
    with pytest.raises(ValueError, match="must be an integer axis or None"):
        check_channel_axis((8, 8, 3), channel_axis)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 5, 0)])
def test_empty_image_is_reported_as_empty_before_any_option(shape):
    with pytest.raises(ValueError, match=r"^image is empty \(shape"):
        check_channel_axis(shape, -1 if len(shape) == 3 else None)
    # segment checks the KMeans window against the image before the prior: that check must not speak first.
    with pytest.raises(ValueError, match=r"^image is empty"):
        segment(np.zeros(shape), channel_axis=-1 if len(shape) == 3 else None, **FAST_PRIOR)


@pytest.mark.parametrize("device", ["banana", 0, "cuda:banana", "xla"])
def test_unknown_device_is_a_value_error(device):
    with pytest.raises(ValueError, match=r"^device="):
        resolve_device(device)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(learning_rate=True), "learning_rate=True must be a finite number > 0"),
        (dict(learning_rate=math.inf), "learning_rate=inf must be a finite number > 0"),
        (dict(continuity=math.inf), "continuity=inf must be a finite number >= 0"),
        (dict(scale=True), r"scale=True must be a number in \(0, 1\]"),
        (dict(compactness=math.nan), "compactness=nan"),
        (dict(cosine_annealing=1), "cosine_annealing=1 must be True or False"),
    ],
)
def test_backprop_options_reject_booleans_and_infinities(options, message):
    with pytest.raises(ValueError, match=message):
        BackpropOptions(**options)


@pytest.mark.parametrize("learning_rate", [True, math.inf, math.nan, "0.01"])
def test_prior_learning_rate_must_be_a_finite_positive_number(learning_rate):
    with pytest.raises(ValueError, match=f"learning_rate={learning_rate!r} must be a finite number > 0"):
        deep_segmentation_prior(np.zeros((8, 8)), learning_rate=learning_rate, **FAST_PRIOR)


@pytest.mark.parametrize("image", [np.zeros((4, 4), complex), np.full((4, 4), "a"), np.zeros((4, 4), object)])
def test_non_numeric_images_are_refused(image):
    with pytest.raises(ValueError, match=f"^image must hold integers or floats, got dtype {image.dtype}$"):
        prepare_image(image)


@pytest.mark.parametrize("image", [np.array([[0.0, np.nan], [1.0, 2.0]]), np.array([[0.0, -np.inf], [1.0, 2.0]])])
def test_nan_and_infinity_are_refused(image):
    with pytest.raises(ValueError, match="image contains NaN or infinite values"):
        prepare_image(image)


def test_an_absent_device_names_the_available_ones():
    from napari_dsp._device import available_devices

    absent = next((name for name in ("cuda", "mps") if name not in available_devices()), None)
    if absent is None:
        pytest.skip("every device type is present")
    with pytest.raises(ValueError, match=f"device='{absent}' was requested but is not available on this machine"):
        resolve_device(absent)
