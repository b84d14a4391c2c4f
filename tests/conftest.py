"""Fixtures shared by the test modules: small synthetic images with a known partition."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment


@pytest.fixture
def region_ious():
    """Function (labels, truth) -> IoU of each truth region with the label matched to it one-to-one."""
    return _region_ious


def _region_ious(labels, truth):
    truth_ids, predicted_ids = np.unique(truth), np.unique(labels)
    iou = np.array([
        [np.sum((truth == t) & (labels == p)) / np.sum((truth == t) | (labels == p)) for p in predicted_ids]
        for t in truth_ids
    ])
    rows, cols = linear_sum_assignment(-iou)
    matched = np.zeros(len(truth_ids))
    matched[rows] = iou[rows, cols]
    return matched


@pytest.fixture
def noisy_regions():
    """A 64 x 64 RGB float image of three flat regions under strong noise, and its (64, 64) truth labels 0..2."""
    rng = np.random.default_rng(7)
    truth = np.zeros((64, 64), dtype=np.int32)
    truth[8:40, 10:42] = 1
    yy, xx = np.mgrid[:64, :64]
    truth[(yy - 46) ** 2 + (xx - 44) ** 2 < 14**2] = 2
    colours = np.array([[0.2, 0.3, 0.6], [0.8, 0.5, 0.2], [0.4, 0.8, 0.4]], dtype=np.float32)
    image = colours[truth] + rng.normal(0.0, 0.3, size=(64, 64, 3)).astype(np.float32)
    return image, truth
