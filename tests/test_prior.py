import threading

import numpy as np
import pytest
import torch

from napari_dsp import _dip
from napari_dsp._image import prepare_image
from napari_dsp.prior import deep_segmentation_prior
from napari_dsp.progress import Cancelled
from napari_dsp.recipes import FAST as FAST_PRESET
from napari_dsp.recipes import PAPER

FAST = dict(iterations=4, restarts=2, seed=0, device="cpu")


def noisy_square(shape=(32, 32), dtype=np.float32, high=1.0, seed=0):
    """A bright square on a dark background with strong pixel noise."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 0.2)
    image[shape[0] // 4 : 3 * shape[0] // 4, shape[1] // 4 : 3 * shape[1] // 4] = 0.8
    image = np.clip(image + rng.normal(0, 0.15, shape), 0, 1) * high
    return image.astype(dtype)


def total_variation(image):
    return np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean()


def test_prior_is_a_smoother_image_in_the_input_scale():
    image = noisy_square(high=255.0)
    prior = deep_segmentation_prior(image, iterations=30, restarts=3, seed=0, device="cpu")
    assert prior.shape == image.shape and prior.dtype == np.float32
    assert image.min() <= prior.min() and prior.max() <= image.max()
    assert total_variation(prior) < 0.5 * total_variation(image)
    # The surfaces survive: thresholding the prior recovers the square.
    truth = np.zeros(image.shape, bool)
    truth[8:24, 8:24] = True
    assert ((prior > image.mean()) == truth).mean() > 0.9


def test_same_seed_same_prior_and_other_seed_differs():
    image = noisy_square()
    first = deep_segmentation_prior(image, **FAST)
    assert np.array_equal(first, deep_segmentation_prior(image, **FAST))
    assert not np.array_equal(first, deep_segmentation_prior(image, **{**FAST, "seed": 1}))


@pytest.mark.parametrize(
    "shape, channel_axis, dtype, high",
    [
        ((37, 53), None, np.uint8, 255),
        ((2, 2), None, np.float64, 1e-3),
        ((37, 53, 3), -1, np.uint16, 60000),
        ((37, 53, 3), -1, np.uint8, 255),
        ((21, 17, 4), 2, np.float32, 1.0),
        ((3, 37, 53), 0, np.uint16, 4095),
        ((5, 9, 2), -1, np.float64, -7.5),
    ],
)
def test_any_size_channels_and_dtype(shape, channel_axis, dtype, high):
    rng = np.random.default_rng(0)
    image = (rng.random(shape) * high).astype(dtype)
    prior = deep_segmentation_prior(image, channel_axis=channel_axis, iterations=2, restarts=2, seed=0)
    assert prior.shape == image.shape
    assert prior.dtype == np.float32
    assert np.isfinite(prior).all()
    assert image.min() <= prior.min() and prior.max() <= image.max()


def test_input_is_not_modified():
    image = noisy_square()
    copy = image.copy()
    deep_segmentation_prior(image, **FAST)
    assert np.array_equal(image, copy)


@pytest.mark.parametrize(
    "image, kwargs, message",
    [
        (np.zeros((0, 5)), {}, "empty"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), {}, "NaN"),
        (np.zeros(10), {}, "2-D"),
        (np.zeros((1, 1)), {}, "2 x 2"),
        (np.zeros((8, 8, 3)), {}, "channel_axis=-1"),
        (np.zeros((8, 8)), {"channel_axis": 2}, "channel_axis=2"),
        (np.zeros((8, 8)), {"iterations": 0}, "iterations=0"),
        (np.zeros((8, 8)), {"restarts": 2.5}, "restarts=2.5"),
        (np.zeros((8, 8)), {"learning_rate": -1}, "learning_rate=-1"),
        (np.zeros((8, 8)), {"average_last": 0}, "average_last=0"),
        (np.zeros((8, 8)), {"strategy": "fast"}, "strategy='fast'"),
        (np.zeros((8, 8)), {"callback": 3}, "callback=3"),
        (np.zeros((8, 8)), {"precision": "float16"}, "precision='float16'"),
    ],
)
def test_bad_input_raises_a_clear_error(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        deep_segmentation_prior(image, **kwargs)


@pytest.mark.parametrize("strategy", ["threads", "batched"])
def test_fast_paths_equal_the_plain_loop_at_the_first_forward_pass(strategy):
    # With one iteration the prior is the median of the first forward passes,
    # which training has not yet had a chance to amplify rounding in.
    image = noisy_square((24, 40))
    settings = dict(iterations=1, restarts=3, seed=3, device="cpu")
    plain = deep_segmentation_prior(image, strategy="sequential", **settings)
    fast = deep_segmentation_prior(image, strategy=strategy, **settings)
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    assert not np.allclose(plain, deep_segmentation_prior(image, strategy="sequential", **{**settings, "seed": 4}))


@pytest.mark.parametrize("strategy", ["threads", "batched"])
def test_bfloat16_runs_the_networks_in_bfloat16_and_keeps_the_prior(strategy):
    image = noisy_square()
    settings = dict(restarts=2, seed=0, device="cpu", strategy=strategy)
    # At the first forward pass the two precisions differ by bfloat16 rounding only.
    single = deep_segmentation_prior(image, iterations=1, **settings)
    half = deep_segmentation_prior(image, iterations=1, precision="bfloat16", **settings)
    assert half.dtype == np.float32 and not np.array_equal(half, single)
    np.testing.assert_allclose(half, single, atol=0.02)
    # Trained, it still smooths the noise and keeps the square.
    prior = deep_segmentation_prior(image, iterations=30, precision="bfloat16", **settings)
    truth = np.zeros(image.shape, bool)
    truth[8:24, 8:24] = True
    assert ((prior > image.mean()) == truth).mean() > 0.9
    assert total_variation(prior) < 0.5 * total_variation(image)


def test_every_precision_has_a_dtype():
    from napari_dsp._device import LOW_DTYPES
    from napari_dsp.recipes import PRECISIONS

    assert tuple(LOW_DTYPES) == PRECISIONS and LOW_DTYPES[PRECISIONS[0]] is None


@pytest.mark.parametrize("strategy", ["threads", "batched"])
def test_bfloat16_keeps_steps_too_small_for_bfloat16_weights(strategy):
    # At this learning rate Adam's steps are below bfloat16's resolution of the
    # weights: bfloat16 weights updated in place would lose half the movement
    # (measured: 0.54 of float32's, correlation 0.83). Float32 master weights keep it.
    image = noisy_square()
    settings = dict(restarts=2, seed=0, device="cpu", strategy=strategy, learning_rate=3e-5)
    moved = {}
    for precision in ("float32", "bfloat16"):
        start, end = (deep_segmentation_prior(image, iterations=n, precision=precision, **settings) for n in (1, 40))
        moved[precision] = (end - start).ravel()
    single, half = moved["float32"], moved["bfloat16"]
    assert np.corrcoef(single, half)[0, 1] > 0.95
    assert 0.9 < np.linalg.norm(half) / np.linalg.norm(single) < 1.1


def test_batched_network_holds_independent_restarts():
    generators = [torch.Generator().manual_seed(s) for s in (5, 6)]
    batched = _dip.SkipNet(3, groups=2)
    noise = _dip.init_restarts(batched, generators, 16, 24)
    out = batched(noise)
    for r, seed in enumerate((5, 6)):
        single = _dip.SkipNet(3)
        single_noise = _dip.init_restarts(single, [torch.Generator().manual_seed(seed)], 16, 24)
        assert torch.equal(single_noise, noise[:, 2 * r : 2 * r + 2])
        torch.testing.assert_close(out[:, 3 * r : 3 * r + 3], single(single_noise), atol=1e-4, rtol=0)


@pytest.mark.parametrize("strategy", ["sequential", "threads", "batched"])
@pytest.mark.parametrize("how", ["return False", "raise"])
def test_cancel_stops_promptly_from_the_calling_thread(strategy, how):
    image = noisy_square((20, 30, 3))
    calls = []
    threads_before = threading.active_count()
    torch_threads = torch.get_num_threads()

    def callback(progress):
        calls.append((progress.step, progress.total, progress.stage, threading.get_ident()))
        preview = progress.preview()
        assert preview.shape == image.shape and preview.dtype == np.float32
        assert np.isfinite(progress.loss)
        if len(calls) == 3:
            if how == "raise":
                raise Cancelled("stop")
            return False
        return None

    with pytest.raises(Cancelled):
        deep_segmentation_prior(
            image, channel_axis=-1, iterations=50, restarts=4, seed=0, device="cpu", callback=callback,
            strategy=strategy,
        )
    expected_steps = [4, 8, 12] if strategy == "batched" else [1, 2, 3]
    assert [c[0] for c in calls] == expected_steps
    assert {c[1:] for c in calls} == {(200, "prior", threading.get_ident())}
    assert threading.active_count() == threads_before
    assert torch.get_num_threads() == torch_threads


def test_progress_runs_to_the_total_and_preview_becomes_the_prior():
    image = noisy_square((16, 16))
    seen = []

    def callback(progress):
        seen.append(progress.step)
        if progress.step == progress.total:
            seen.append(progress.preview())

    prior = deep_segmentation_prior(image, callback=callback, **FAST)
    assert seen[:-1] == list(range(1, 9))
    np.testing.assert_array_equal(seen[-1], prior)


def test_concurrent_restarts_are_limited_by_free_memory():
    from napari_dsp import prior

    assert prior._concurrent_restarts(11, (64, 64), 10**9) == 11
    assert prior._concurrent_restarts(2, (64, 64), 10**9) == 2
    # 1 GB free, about 1.1 kB per pixel and restart, half of it used: 3 restarts of 384 x 384 px.
    assert prior._concurrent_restarts(11, (384, 384), 10**9) == 3
    assert prior._concurrent_restarts(11, (4096, 4096), 10**9) == 1
    assert prior._concurrent_restarts(11, (4096, 4096), None) == 11


def test_fast_preset_fits_at_reduced_size_and_returns_full_size(monkeypatch):
    from napari_dsp import prior

    fitted = []
    original = prior._Fit.__init__

    def spy(self, scaled, target, *args, **kwargs):
        fitted.append(target.shape)
        original(self, scaled, target, *args, **kwargs)

    monkeypatch.setattr(prior._Fit, "__init__", spy)
    image = np.zeros((60, 90, 3), np.uint8)
    image[20:40, 30:60] = 200
    previews = []
    result = deep_segmentation_prior(image, channel_axis=-1, preset="fast", max_size=32, iterations=40, seed=0,
                                     callback=lambda p: previews.append(p.preview().shape))
    assert fitted == [(3, 21, 32)]
    assert result.shape == image.shape and set(previews) == {image.shape}
    assert result[30, 45].mean() > result[5, 5].mean() + 50  # the square survives the round trip


def test_preset_and_explicit_options():
    from napari_dsp.prior import _resolve

    assert _resolve("paper", None, None, None, None, None) == PAPER.foreground_prior
    assert _resolve("fast", None, None, None, None, None) == FAST_PRESET.foreground_prior
    explicit = _resolve("fast", 7, None, None, 0, 3)
    assert (explicit.iterations, explicit.max_size, explicit.average_last) == (7, 0, 3)
    with pytest.raises(ValueError, match="preset='slow' is unknown"):
        _resolve("slow", None, None, None, None, None)
    with pytest.raises(ValueError, match="max_size=8 must be 0"):
        _resolve("paper", None, None, None, 8, None)
    with pytest.raises(ValueError, match="learning_rate=True"):
        _resolve("paper", None, None, True, None, None)


def test_average_last_is_the_mean_of_the_last_outputs(monkeypatch):
    from napari_dsp import prior

    outputs = []
    original = prior._Fit.build

    def build(self, generators):
        net, noise = original(self, generators)
        net.register_forward_hook(lambda module, args, out: outputs.append(out.detach()[0, 0, :24, :40].clone()))
        return net, noise

    monkeypatch.setattr(prior._Fit, "build", build)
    image = noisy_square((24, 40))
    image[0, :2] = 0, 1  # the input's range is [0, 1], so the prior is the networks' output itself
    settings = dict(iterations=6, restarts=1, seed=0, device="cpu", strategy="sequential")
    averaged = deep_segmentation_prior(image, average_last=3, **settings)
    np.testing.assert_allclose(averaged, torch.stack(outputs[-3:]).mean(0).numpy(), atol=1e-6)
    assert not np.allclose(averaged, outputs[-1].numpy(), atol=1e-3)
    outputs.clear()
    every = deep_segmentation_prior(image, average_last=100, **settings)
    np.testing.assert_allclose(every, torch.stack(outputs).mean(0).numpy(), atol=1e-6)
    outputs.clear()
    np.testing.assert_array_equal(deep_segmentation_prior(image, average_last=1, **settings), outputs[-1].numpy())


def test_too_little_memory_shrinks_the_working_size_with_a_warning(monkeypatch):
    from napari_dsp import prior

    monkeypatch.setattr(prior, "_available_bytes", lambda device: 2 * 1100 * 40 * 40)
    image = np.random.default_rng(0).random((100, 100)).astype(np.float32)
    with pytest.warns(UserWarning, match="does not fit"):
        result = deep_segmentation_prior(image, iterations=2, restarts=1, seed=0)
    assert result.shape == image.shape


def test_out_of_gpu_memory_retries_with_smaller_groups(monkeypatch):
    from napari_dsp import prior

    original = prior._Fit.train

    def train(self, key, net, noise, on_step):
        if net.groups > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return original(self, key, net, noise, on_step)

    monkeypatch.setattr(prior._Fit, "train", train)
    steps = []
    image = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    with pytest.warns(UserWarning, match="1 restarts at a time"):
        result = deep_segmentation_prior(image, iterations=2, restarts=2, seed=0, strategy="batched",
                                         callback=lambda p: steps.append(p.step))
    assert result.shape == image.shape and steps == [1, 2, 3, 4]


def test_leftover_restarts_share_the_cores_on_large_images(monkeypatch):
    from napari_dsp import prior

    calls = []
    original = prior._run_workers

    def spy(fit, generators, keys, n_workers, intra_op_threads, *args):
        calls.append((list(keys), n_workers, intra_op_threads))
        return original(fit, generators, keys, n_workers, intra_op_threads, *args)

    monkeypatch.setattr(prior, "_run_workers", spy)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    fit = prior._Fit(prepare_image(np.zeros((256, 256), np.float32)), np.zeros((1, 256, 256), np.float32), 1,
                     0.01, torch.device("cpu"), channels_last=True)
    prior._run_threaded(fit, _dip.generators(0, 3), 2, 2, None, 3)
    assert calls == [([0, 1], 2, 1), ([2], 1, 2)]
    calls.clear()
    small = prior._Fit(prepare_image(np.zeros((32, 32), np.float32)), np.zeros((1, 32, 32), np.float32), 1,
                       0.01, torch.device("cpu"), channels_last=True)
    prior._run_threaded(small, _dip.generators(0, 3), 2, 2, None, 3)
    assert calls == [([0, 1], 2, 1), ([2], 1, 1)]


def test_estimate_is_quick_and_scales_with_the_work():
    import time

    from napari_dsp.prior import estimate_prior

    start = time.perf_counter()
    small = estimate_prior((64, 64), iterations=10, restarts=2, device="cpu")
    assert time.perf_counter() - start < 10
    large = estimate_prior((256, 256), iterations=10, restarts=2, device="cpu")
    assert large.working_shape == (256, 256) and large.peak_bytes > small.peak_bytes
    assert large.seconds > small.seconds > 0
    assert estimate_prior((512, 512, 3), channel_axis=-1, preset="fast").working_shape == (256, 256)
