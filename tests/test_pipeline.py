from dataclasses import asdict

import numpy as np
import pytest

from napari_dsp.pipeline import Segmentation, segment
from napari_dsp.progress import Cancelled
from napari_dsp.recipes import FAST, REGIONS
from napari_dsp.regions import region_segmentation


def test_kmeans_recovers_regions_and_reports_progress(noisy_regions, region_ious):
    image, truth = noisy_regions
    steps = []

    result = segment(
        image, n_clusters=3, iterations=50, restarts=3, channel_axis=-1, device="cpu", seed=0,
        callback=lambda progress: steps.append((progress.step, progress.total, progress.stage)),
    )

    assert isinstance(result, Segmentation)
    assert result.prior.shape == image.shape and result.prior.dtype == np.float32
    assert result.labels.shape == truth.shape and result.labels.dtype == np.int32
    assert set(np.unique(result.labels)) == {1, 2, 3}
    assert region_ious(result.labels, truth).min() > 0.9
    assert steps[-1] == (150, 150, "prior") and {stage for _, _, stage in steps} == {"prior"}
    assert all(earlier[0] < later[0] for earlier, later in zip(steps, steps[1:]))
    assert result.parameters == {
        "method": "kmeans", "preset": "paper", "n_clusters": 3, "window": 7, "iterations": 50, "restarts": 3,
        "max_size": 0, "channel_axis": 2, "device": "cpu", "seed": 0,
    }


def test_foreground_finds_the_square_in_a_grayscale_image():
    rng = np.random.default_rng(0)
    image = np.full((48, 48), 40, dtype=np.uint8)
    image[14:34, 14:34] = 180
    image = np.clip(image + rng.normal(0, 25, image.shape), 0, 255).astype(np.uint8)

    result = segment(image, method="foreground", window=5, iterations=30, restarts=2, device="cpu", seed=0)

    assert result.prior.shape == image.shape
    assert set(np.unique(result.labels)) == {0, 1}
    assert result.labels[24, 24] == 1 and not result.labels[0].any()
    assert "n_clusters" not in result.parameters


def _never_called(progress):
    raise AssertionError("the prior started although the options were invalid")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"method": "watershed"}, "method='watershed' is unknown"),
        ({"window": 8}, "window=8"),
        ({"window": 41}, "larger than"),
        ({"n_clusters": 0}, "n_clusters=0"),
        ({"precision": "half"}, "precision='half' is not one of"),
        ({"method": "foreground", "center_sigma": -0.2}, "center_sigma=-0.2"),
        ({"channel_axis": None}, "expected a 2-D image"),
        ({"fit_prior": False}, r"fit_prior=False works only with method='regions'; method='kmeans' segments"),
        ({"prior": np.zeros((40, 40))}, r"prior has shape \(40, 40\); it must be the image's shape, \(40, 40, 3\)"),
    ],
)
def test_bad_options_fail_before_the_prior(options, message):
    with pytest.raises(ValueError, match=message):
        segment(np.zeros((40, 40, 3)), **{"channel_axis": -1, **options}, callback=_never_called)


def test_a_given_prior_replaces_the_fit(noisy_regions, region_ious):
    image, truth = noisy_regions
    common = {"method": "kmeans", "n_clusters": 3, "channel_axis": -1, "seed": 0, "device": "cpu"}
    fitted = segment(image, iterations=20, restarts=2, **common)
    again = segment(image, prior=fitted.prior, callback=_never_called, **common)
    np.testing.assert_array_equal(again.labels, fitted.labels)
    # a prior drawn by hand, with regions the image does not have, decides the labels
    halves = np.zeros((64, 64), np.int32)
    halves[:, 32:] = 1
    hand = segment(image, prior=np.repeat(halves[..., None], 3, -1).astype(np.float32), callback=_never_called,
                   **{**common, "n_clusters": 2})
    assert region_ious(hand.labels, halves).min() == 1.0


def test_callback_cancels():
    seen = []

    def stop_at_third(progress):
        seen.append(progress.step)
        return progress.step < 3

    with pytest.raises(Cancelled):
        segment(np.random.default_rng(0).random((32, 32)), iterations=20, restarts=2, device="cpu",
                callback=stop_at_third)
    assert seen[-1] >= 3 and all(step < 3 for step in seen[:-1])


def test_fast_preset_segments_at_reduced_working_size(noisy_regions, region_ious):
    image, truth = noisy_regions
    big = np.kron(image, np.ones((5, 5, 1), np.float32))  # 320 x 320, above the preset's 256 px
    result = segment(big, method="kmeans", preset="fast", n_clusters=3, channel_axis=-1, seed=0, iterations=40)
    assert result.parameters["preset"] == "fast" and result.parameters["max_size"] == 256
    assert result.parameters["restarts"] == FAST.foreground_prior.restarts and result.prior.shape == big.shape
    assert region_ious(result.labels, np.kron(truth, np.ones((5, 5), truth.dtype))).min() > 0.85


def test_unknown_preset_fails_before_the_prior():
    with pytest.raises(ValueError, match="preset='quick' is unknown"):
        segment(np.zeros((20, 20)), preset="quick", callback=lambda p: pytest.fail("the prior started"))


def _blocks():
    """A 4 x 6 grid of 10-pixel blocks of random grey levels: how many regions survive depends on the threshold."""
    rng = np.random.default_rng(0)
    return np.kron(rng.random((4, 6)), np.ones((10, 10))).astype(np.float32)


def test_region_options_reach_the_region_method_and_are_recorded():
    common = {"method": "regions", "iterations": 2, "restarts": 1, "seed": 0, "device": "cpu"}
    fine = segment(_blocks(), region_options={"threshold": 0.5}, **common)
    coarse = segment(_blocks(), region_options={"threshold": 1000}, **common)
    default = segment(_blocks(), **common)
    assert fine.labels.max() > default.labels.max() > coarse.labels.max() == 1
    assert fine.parameters["regions"] == {**asdict(REGIONS), "threshold": 0.5}
    assert default.parameters["regions"] == asdict(REGIONS)


def test_regions_without_the_prior():
    result = segment(_blocks(), method="regions", fit_prior=False, callback=_never_called)
    assert result.prior is None
    np.testing.assert_array_equal(result.labels, region_segmentation(_blocks()))
    assert result.parameters["fit_prior"] is False and "iterations" not in result.parameters


@pytest.mark.parametrize(
    "options, error, message",
    [({"threshold": 0}, ValueError, "threshold=0"), ({"min_size": 1.0}, ValueError, "min_size=1.0"),
     ({"seed": 1}, ValueError, "may not set 'seed'"), ({"thresh": 1}, TypeError, "no option 'thresh'")],
)
def test_bad_region_options_fail_before_the_prior(options, error, message):
    steps = []
    with pytest.raises(error, match=message):
        segment(_blocks(), method="regions", region_options=options, iterations=2, restarts=1, callback=steps.append)
    assert steps == []
