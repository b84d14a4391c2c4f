"""Tests of the backpropagation segmenter: its mechanics on synthetic data, its behaviour on a small photo."""

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage import data
from skimage.color import rgb2gray
from skimage.filters import sobel
from skimage.segmentation import find_boundaries
from skimage.transform import rescale

from napari_dsp._kanezaki import vote
from napari_dsp._schedules import StopRule, cosine_restart_lr, warmup_lr
from napari_dsp.backprop import (
    backprop_segmentation,
    check_backprop_options,
    estimate_backprop_bytes,
    estimate_backprop_seconds,
)
from napari_dsp.progress import Cancelled

FAST = dict(n_features=16, warmup=5, max_iterations=10, n_segments=50)


def _textured(shape=(24, 28), seed=0):
    return np.random.default_rng(seed).random((*shape, 3)).astype(np.float32)


def _vote_by_loop(labels, superpixels):
    """The reference implementation: a loop over superpixels, a histogram of labels in each."""
    voted = labels.copy()
    for s in np.unique(superpixels):
        inside = superpixels == s
        values, counts = np.unique(labels[inside], return_counts=True)
        voted[inside] = values[np.argmax(counts)]
    return voted


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_vote_equals_the_loop(seed):
    rng = np.random.default_rng(seed)
    n_features, n_superpixels = 6, 40
    labels = rng.integers(0, n_features, 3000)
    # Skewed superpixel sizes, some ids unused, many ties in small superpixels.
    superpixels = rng.integers(0, n_superpixels, 3000) ** 2 // n_superpixels

    voted = vote(torch.from_numpy(labels), torch.from_numpy(superpixels), n_superpixels, n_features)

    np.testing.assert_array_equal(voted.numpy(), _vote_by_loop(labels, superpixels))


def test_warmup_rises_linearly_from_a_hundredth_to_the_rate():
    rates = [warmup_lr(step, 0.1, 100) for step in range(1, 101)]
    np.testing.assert_allclose(rates, np.linspace(0.001, 0.1, 100))


def test_cosine_restarts_match_sgdr():
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    sgdr = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=2)
    expected = []
    for _ in range(70):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sgdr.step()

    rates = [cosine_restart_lr(i, 0.1) for i in range(70)]

    np.testing.assert_allclose(rates, expected, rtol=1e-9, atol=1e-12)
    restarts = [i for i in range(70) if rates[i] == 0.1]
    assert restarts == [0, 2, 6, 14, 30, 62]


def test_stop_rule_waits_fifty_iterations_after_min_labels():
    rule = StopRule(3)
    counts = [9, 7, 5, 3] + [4, 3] * 30
    stops = [rule.update(n) for n in counts]
    assert stops.index(True) == 3 + 50


def test_stop_rule_stops_at_once_when_labels_fall_below_min():
    rule = StopRule(3)
    assert [rule.update(n) for n in (6, 3, 3, 2)] == [False, False, False, True]


def test_stop_rule_never_fires_above_min_labels():
    rule = StopRule(3)
    assert not any(rule.update(4) for _ in range(1000))


def test_run_stops_fifty_iterations_after_min_labels_is_reached():
    steps = []
    # Every count is <= min_labels = n_features, so the rule starts at the first main iteration.
    backprop_segmentation(_textured(), channel_axis=-1, n_features=4, min_labels=4, warmup=3, max_iterations=500,
                          n_segments=20, seed=0, callback=lambda p: steps.append(p.step))
    assert steps[:3] == [1, 2, 3]
    assert 3 + 2 <= len(steps) <= 3 + 1 + 50


def test_photo_gives_a_few_labels_on_strong_edges():
    photo = rescale(data.coffee(), 0.15, channel_axis=-1, anti_aliasing=True)  # 60 x 90
    labels = backprop_segmentation(photo, channel_axis=-1, max_iterations=120, warmup=30, n_segments=200,
                                   n_features=32, seed=0)

    assert labels.shape == photo.shape[:2] and labels.dtype == np.int32
    n_labels = len(np.unique(labels))
    np.testing.assert_array_equal(np.unique(labels), np.arange(1, n_labels + 1))
    assert 2 <= n_labels <= 40
    edges = sobel(rgb2gray(photo))
    near_strong_edge = ndi.binary_dilation(edges > np.percentile(edges, 75))
    on_boundary = find_boundaries(labels, mode="inner")
    # A quarter of the pixels are strong edges (42 % after dilation); label boundaries lie mostly there.
    assert near_strong_edge[on_boundary].mean() > 0.65
    assert near_strong_edge[on_boundary].mean() > near_strong_edge.mean() + 0.2


def _two_regions(seed=3):
    rng = np.random.default_rng(seed)
    truth = np.zeros((48, 64), dtype=np.int32)
    truth[:, 28:] = 1
    truth[14:34, 40:54] = 0
    colours = np.array([[0.2, 0.5, 0.7], [0.7, 0.4, 0.2]], dtype=np.float32)
    image = colours[truth] + rng.normal(0, 0.08, (48, 64, 3)).astype(np.float32)
    return image, truth


def test_continuity_with_scribbles_recovers_the_regions():
    image, truth = _two_regions()
    scribbles = np.zeros(truth.shape, dtype=np.uint8)
    scribbles[6:42, 8] = 2  # the user's numbers need not be 1..m
    scribbles[40, 30:60] = 5
    scribbles[24, 44:50] = 2
    expected = np.where(truth == 0, 2, 5)

    labels = backprop_segmentation(image, channel_axis=-1, continuity=1.0, scribbles=scribbles,
                                   n_features=32, warmup=0, max_iterations=100, seed=0)

    marked = scribbles > 0
    assert (labels[marked] == scribbles[marked]).mean() >= 0.95
    # With two 3x3 convolutions and zero padding, pixels within 2 px of the image border or of an edge see
    # a window unlike the rest, and the self-training gives such bands labels of their own: score the rest.
    edge = find_boundaries(np.pad(truth + 1, 1), mode="inner")[1:-1, 1:-1]
    interior = ~ndi.binary_dilation(edge, iterations=2)
    assert (labels[interior] == expected[interior]).mean() >= 0.95
    assert set(np.unique(labels[interior])) == {2, 5}


@pytest.mark.parametrize("channel_axis", [0, -1])
def test_seeded_runs_are_reproducible_for_any_channel_axis(channel_axis):
    image = _textured()
    reference = backprop_segmentation(image, channel_axis=-1, seed=4, **FAST)
    moved = np.moveaxis(image, -1, channel_axis).copy()
    before = moved.copy()

    labels = backprop_segmentation(moved, channel_axis=channel_axis, seed=4, **FAST)

    np.testing.assert_array_equal(labels, reference)
    np.testing.assert_array_equal(moved, before)


def test_grey_image_with_guide_and_scale_keeps_the_spatial_shape():
    image = (_textured((30, 41))[..., 0] * 1000).astype(np.uint16)
    guide = ndi.gaussian_filter(image.astype(np.float32), 2)
    previews = []

    labels = backprop_segmentation(image, guide=guide, scale=0.5, seed=1,
                                   callback=lambda p: previews.append(p.preview()), **FAST)

    assert labels.shape == image.shape and labels.dtype == np.int32
    assert labels.min() == 1
    assert len(previews) == FAST["warmup"] + FAST["max_iterations"]
    assert all(p.shape == image.shape and p.min() >= 1 for p in previews)


@pytest.mark.parametrize("how", ["return", "raise"])
def test_callback_cancels_within_one_iteration(how):
    steps = []

    def callback(progress):
        steps.append(progress.step)
        if progress.step == 3:
            if how == "raise":
                raise Cancelled("stop")
            return False
        return None

    with pytest.raises(Cancelled):
        backprop_segmentation(_textured(), channel_axis=-1, callback=callback, **FAST)
    assert steps == [1, 2, 3]


@pytest.mark.parametrize(
    ("scribbles", "message"),
    [
        (np.zeros((5, 5), dtype=int), "spatial shape"),
        (np.full((24, 28), -1, dtype=int), "negative"),
        (np.ones((24, 28), dtype=float), "integer"),
    ],
)
def test_bad_scribbles_are_refused(scribbles, message):
    with pytest.raises(ValueError, match=message):
        backprop_segmentation(_textured(), channel_axis=-1, scribbles=scribbles, **FAST)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(guide=np.zeros((24, 28))), "guide has shape"),
        (dict(scale=0), "scale=0"),
        (dict(precision="float16"), "precision"),
        (dict(n_features=1), "n_features"),
        (dict(continuity=-1.0), "continuity"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        backprop_segmentation(_textured(), channel_axis=-1, **{**FAST, **options})


def test_too_large_a_run_is_refused_before_allocating():
    with pytest.raises(MemoryError, match="scale"):
        backprop_segmentation(_textured(), channel_axis=-1, memory_limit=10_000, **FAST)


def test_memory_and_time_estimates():
    full = estimate_backprop_bytes((2000, 3000, 3), channel_axis=-1)
    half = estimate_backprop_bytes((2000, 3000, 3), channel_axis=-1, scale=0.5)
    # The working maps shrink fourfold; the full-size response for the final labels remains.
    assert half == pytest.approx(full / 4 + 100 * 2000 * 3000 * 4)
    seconds = estimate_backprop_seconds((40, 40), n_features=8, max_iterations=10, warmup=0, sample_pixels=400)
    assert np.isfinite(seconds) and seconds > 0


def test_options_can_be_checked_before_any_work():
    check_backprop_options((30, 40, 3), channel_axis=-1, scale=0.5, scribbles=np.zeros((30, 40), int))
    with pytest.raises(TypeError, match="n_segment"):
        check_backprop_options((30, 40, 3), channel_axis=-1, n_segment=100)
    with pytest.raises(ValueError, match="guide has shape"):
        check_backprop_options((30, 40, 3), channel_axis=-1, guide_shape=(30, 40))
    with pytest.raises(MemoryError):
        check_backprop_options((30, 40, 3), channel_axis=-1, memory_limit=1000)


def test_pipeline_runs_the_prior_then_backprop_and_checks_options_first():
    from napari_dsp.pipeline import segment

    image = _textured((20, 26))
    stages = []
    result = segment(image, method="backprop", channel_axis=-1, iterations=2, restarts=1, seed=0,
                     callback=lambda p: stages.append(p.stage), backprop_options=dict(FAST))

    assert result.labels.shape == (20, 26) and result.labels.min() == 1
    assert result.prior.shape == image.shape
    assert stages == ["prior"] * 2 + ["backprop"] * (FAST["warmup"] + FAST["max_iterations"])
    assert result.parameters["backprop"]["n_features"] == FAST["n_features"]
    assert result.parameters["backprop"]["min_labels"] == 3
    with pytest.raises(ValueError, match="scale"):
        segment(image, method="backprop", channel_axis=-1, backprop_options={"scale": 2},
                callback=lambda p: pytest.fail("the prior ran before the options were checked"))


def test_cli_segments_with_backprop(tmp_path):
    import imageio.v3 as iio

    from napari_dsp.cli import main

    iio.imwrite(tmp_path / "tiny.png", (_textured((24, 28)) * 255).astype(np.uint8))
    status = main(["segment", str(tmp_path / "tiny.png"), "--method", "backprop", "--iterations", "2",
                   "--restarts", "1", "--max-iterations", "3", "--n-features", "8", "--scale", "0.5",
                   "--seed", "0", "--out", str(tmp_path / "out")])

    assert status == 0
    labels = iio.imread(tmp_path / "out" / "tiny_labels.tif")
    assert labels.shape == (24, 28) and labels.min() >= 1


def test_large_scribble_labels_are_kept_without_a_table_of_their_size():
    scribbles = np.zeros((24, 28), dtype=np.uint64)
    scribbles[2:6, 2:6] = 2**31 - 1 - 16  # the largest usable with n_features=16; a table this long is 16 GiB
    scribbles[18:22, 20:24] = 7
    labels = backprop_segmentation(_textured(), channel_axis=-1, scribbles=scribbles, seed=0, **FAST)
    assert labels.dtype == np.int32
    marked = scribbles > 0
    assert set(np.unique(labels[marked])) <= {7, 2**31 - 1 - 16}


@pytest.mark.parametrize("label", [2**31 - 16, 2**40, 2**64 - 1])
def test_scribble_labels_beyond_int32_output_are_refused(label):
    scribbles = np.zeros((24, 28), dtype=np.uint64)
    scribbles[3, 3] = label
    with pytest.raises(ValueError, match=f"scribbles hold the label {label}, above the largest usable label"):
        backprop_segmentation(_textured(), channel_axis=-1, scribbles=scribbles, **FAST)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: estimate_backprop_bytes((30, 40), scale=0), "scale=0"),
        (lambda: estimate_backprop_bytes((30, 40), n_features=True), "n_features=True"),
        (lambda: estimate_backprop_seconds((30, 40), precision="float16"), "precision='float16'"),
        (lambda: estimate_backprop_seconds((30, 40), sample_pixels=0), "sample_pixels=0"),
    ],
)
def test_estimates_check_their_options(call, message):
    with pytest.raises(ValueError, match=message):
        call()
