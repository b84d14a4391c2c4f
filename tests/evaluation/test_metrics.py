import numpy as np
import pytest
from sklearn.metrics import mutual_info_score, rand_score

from napari_dsp.evaluation.metrics import (
    best_assignment_iou,
    best_iou_per_segment,
    boundary_irregularity,
    boundary_recall,
    dfc_score,
    foreground_iou,
    probabilistic_rand_index,
    rand_index,
    segmentation_covering,
    variation_of_information,
)


def stripes(k, shape=(12, 24)):
    """k vertical stripes of equal width, labelled 1..k."""
    labels = np.zeros(shape, dtype=np.int32)
    for i, cols in enumerate(np.array_split(np.arange(shape[1]), k)):
        labels[:, cols] = i + 1
    return labels


def test_foreground_iou_known_overlap():
    prediction = np.zeros((4, 4), bool)
    prediction[:, :2] = True
    truth = np.zeros((4, 4), np.uint8)
    truth[:, 1:3] = 255
    assert foreground_iou(prediction, truth) == pytest.approx(4 / 12)


def test_inverted_mask_scores_zero_but_best_assignment_one():
    truth = np.zeros((8, 8), bool)
    truth[2:6, 2:6] = True
    prediction = (~truth).astype(np.int32)
    assert foreground_iou(prediction, truth) == 0.0
    assert best_assignment_iou(prediction, truth) == 1.0
    assert best_assignment_iou(truth.astype(int), truth) == 1.0


def test_empty_masks_count_as_a_perfect_match():
    empty = np.zeros((3, 3), int)
    assert foreground_iou(empty, empty) == 1.0


@pytest.mark.parametrize("relabel", [lambda x: x, lambda x: 10 * (5 - x), lambda x: x.astype(np.uint8) * 3])
def test_identical_partitions_score_perfectly_whatever_the_label_values(relabel):
    truth = stripes(4)
    prediction = relabel(truth)
    assert segmentation_covering(prediction, [truth]) == pytest.approx(1.0)
    assert probabilistic_rand_index(prediction, [truth]) == pytest.approx(1.0)
    assert variation_of_information(prediction, [truth]) == pytest.approx(0.0, abs=1e-12)
    score = dfc_score(prediction, [truth])
    np.testing.assert_allclose(score.all, 1.0)
    assert len(score.all) == 4


@pytest.mark.parametrize("k", [2, 3, 4])
def test_one_label_against_k_equal_segments(k):
    truth = stripes(k)
    blank = np.ones_like(truth)
    assert segmentation_covering(blank, truth) == pytest.approx(1 / k)
    assert variation_of_information(blank, truth) == pytest.approx(np.log(k))
    np.testing.assert_allclose(dfc_score(blank, truth).all, 1 / k)
    # Covering is asymmetric: the truth is perfectly covered by its own
    # refinement, but a blank truth is covered poorly by k pieces.
    assert segmentation_covering(truth, blank) == pytest.approx(1 / k)
    assert segmentation_covering(stripes(2 * k), truth) == pytest.approx(0.5)


def test_rand_index_and_vi_match_independent_definitions():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(20, 30))
    b = rng.integers(3, 9, size=(20, 30))
    assert rand_index(a, b) == pytest.approx(rand_score(b.ravel(), a.ravel()))

    def entropy(x):
        p = np.bincount(x.ravel()) / x.size
        p = p[p > 0]
        return -np.sum(p * np.log(p))

    expected_vi = entropy(a) + entropy(b) - 2 * mutual_info_score(a.ravel(), b.ravel())
    assert variation_of_information(a, b) == pytest.approx(expected_vi)


def test_probabilistic_rand_index_averages_the_annotators():
    truths = [stripes(2), np.ones((12, 24), int)]
    prediction = stripes(2)
    expected = np.mean([rand_index(prediction, t) for t in truths])
    assert probabilistic_rand_index(prediction, truths) == pytest.approx(expected)
    assert rand_index(prediction, truths[1]) < 1.0


def test_dfc_splits_disconnected_regions_of_one_label():
    truth = stripes(2, shape=(4, 8))  # left half 1, right half 2
    prediction = np.ones((4, 8), int)
    prediction[:, 3:5] = 2  # label 1 occurs on both sides of a central band
    score = dfc_score(prediction, truth)
    # Each half's best match is its own 3-column piece of label 1: 12 / 16.
    np.testing.assert_allclose(score.all, [0.75, 0.75])
    # Without splitting, label 1 would overlap each half by 12 of 28 pixels.
    np.testing.assert_allclose(best_iou_per_segment(prediction, truth), [12 / 28, 12 / 28])


def test_dfc_connectivity_decides_whether_diagonal_pixels_join():
    truth = np.ones((2, 2), int)
    prediction = np.array([[1, 2], [2, 1]])
    assert len(np.unique(dfc_score(prediction, truth, connectivity=2).all)) == 1
    assert dfc_score(prediction, truth, connectivity=2).all[0] == pytest.approx(0.5)
    assert dfc_score(prediction, truth, connectivity=1).all[0] == pytest.approx(0.25)


def test_dfc_fine_and_coarse_pick_the_annotators_with_most_and_fewest_segments():
    fine, middle, coarse = stripes(6), stripes(3), stripes(2)
    score = dfc_score(stripes(3), [middle, fine, coarse])
    assert len(score.fine) == 6 and len(score.coarse) == 2
    assert len(score.all) == 11
    np.testing.assert_allclose(score.fine, 0.5)
    np.testing.assert_allclose(score.coarse, 8 / 12)
    assert score.all.mean() == pytest.approx((3 * 1.0 + 6 * 0.5 + 2 * 8 / 12) / 11)


def test_many_tiny_components_stay_cheap_and_exact():
    truth = stripes(50, shape=(300, 300))
    prediction = np.arange(300 * 300).reshape(300, 300)  # every pixel its own segment
    best = best_iou_per_segment(prediction, truth)
    np.testing.assert_allclose(best, 1.0 / np.bincount(truth.ravel())[1:])


def test_inputs_are_not_modified():
    prediction, truth = stripes(3), stripes(2)
    before = prediction.copy(), truth.copy()
    dfc_score(prediction, [truth])
    segmentation_covering(prediction, [truth])
    np.testing.assert_array_equal(prediction, before[0])
    np.testing.assert_array_equal(truth, before[1])


def test_invalid_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="shape"):
        dfc_score(np.ones((3, 3), int), [np.ones((3, 4), int)])
    with pytest.raises(ValueError, match="integer or boolean"):
        foreground_iou(np.ones((3, 3)), np.ones((3, 3), int))
    with pytest.raises(ValueError, match="at least one"):
        segmentation_covering(np.ones((3, 3), int), [])


def test_boundary_irregularity_is_scale_free_and_grows_with_wiggles():
    coarse_grid = np.kron(np.arange(16).reshape(4, 4), np.ones((16, 16), int))
    fine_grid = np.kron(np.arange(64).reshape(8, 8), np.ones((8, 8), int))
    assert boundary_irregularity(coarse_grid) == pytest.approx(boundary_irregularity(fine_grid), rel=0.2)
    straight = stripes(4, shape=(64, 64))
    offsets = np.random.default_rng(0).integers(-3, 4, size=64)
    jagged = np.array([np.roll(row, shift) for row, shift in zip(straight, offsets)])
    jagged[:, :4], jagged[:, -4:] = 1, 4  # keep the outer stripes' image borders straight
    assert boundary_irregularity(jagged) > 1.5 * boundary_irregularity(straight)
    assert boundary_irregularity(np.ones((5, 5), int)) == 0.0


def test_boundary_recall_counts_true_edges_within_the_tolerance():
    truth = stripes(2, shape=(6, 12))  # boundary pixels: columns 5 and 6
    shifted = np.ones_like(truth)
    shifted[:, 9:] = 2  # boundary pixels: columns 8 and 9
    assert boundary_recall(truth, truth, tolerance=0) == 1.0
    assert boundary_recall(shifted, truth, tolerance=1) == 0.0
    assert boundary_recall(shifted, truth, tolerance=3) == 1.0
    assert boundary_recall(shifted, np.ones_like(truth)) == 1.0


def test_boundaries_do_not_treat_label_zero_as_background():
    truth = stripes(2, shape=(6, 12))  # labels 1, 2: boundary pixels in columns 5 and 6
    prediction = np.ones_like(truth)
    prediction[:, 6:] = 2  # the same boundary
    assert boundary_irregularity(truth - 1) == boundary_irregularity(truth)
    # Label 0 on either side of the boundary: it is found all the same.
    for shifted_truth, shifted_prediction in [(truth - 1, prediction), (truth, prediction - 1),
                                              (2 - truth, prediction)]:
        assert boundary_recall(shifted_prediction, shifted_truth, tolerance=0) == 1.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: boundary_recall(stripes(2), stripes(2), tolerance=True), "tolerance=True"),
        (lambda: boundary_recall(stripes(2), stripes(2), tolerance=1.5), "tolerance=1.5"),
        (lambda: boundary_recall(stripes(2), stripes(2), tolerance=-1), "tolerance=-1"),
        (lambda: dfc_score(stripes(2), stripes(2), connectivity=3), "connectivity=3 must be at most"),
        (lambda: dfc_score(stripes(2), stripes(2), connectivity=0), "connectivity=0"),
    ],
)
def test_metric_options_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()
