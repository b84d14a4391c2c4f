"""Microscopy channels: a (C, Y, X) image is one multichannel image, not C slices."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from widget_helpers import click_and_wait, open_widget, small_prior


def fluorescence(shape=(64, 64)):
    """Three channels, each a different intensity of one square (+ noise), and the square's mask."""
    truth = np.zeros(shape, bool)
    truth[16:48, 20:52] = True
    rng = np.random.default_rng(1)
    channels = [truth * level + rng.normal(0, 0.05, shape) for level in (0.9, 0.4, 0.6)]
    return np.stack(channels).astype(np.float32), truth


def test_channel_axis_defaults_from_axis_labels_and_gives_one_segmentation(viewer, qtbot):
    image, truth = fluorescence()
    viewer.add_image(image, name="cells", axis_labels=("c", "y", "x"))
    widget = open_widget(viewer, "KMeans segmentation")
    assert widget.channel_axis.value == 0 and not widget.channel_axis.native.isHidden()
    assert widget.all_slices.native.isHidden()  # three channels, not three slices
    widget.auto_update.value = False
    click_and_wait(qtbot, widget)
    labels = viewer.layers["cells kmeans"]
    assert labels.data.shape == (64, 64)
    assert np.mean((labels.data == 2) == truth) > 0.95
    assert labels.metadata["napari_dsp"]["parameters"]["channel_axis"] == 0

    prior = open_widget(viewer, "Deep Segmentation Prior")
    assert prior.channel_axis.value == 0
    small_prior(prior, restarts=1)
    click_and_wait(qtbot, prior)
    assert viewer.layers["cells prior"].data.shape == (3, 64, 64)
    widget.image.value = viewer.layers["cells prior"]
    assert widget.channel_axis.value == 0  # the prior remembers its channels


def test_channel_axis_from_the_viewer_and_channels_last(viewer, qtbot):
    image, truth = fluorescence((32, 32))
    viewer.add_image(np.moveaxis(image, 0, -1), name="last", rgb=False)
    widget = open_widget(viewer, "KMeans segmentation")
    assert widget.channel_axis.value == "none"
    widget.auto_update.value = False
    widget.channel_axis.value = 2
    click_and_wait(qtbot, widget)
    assert viewer.layers["last kmeans"].data.shape == (32, 32)
    assert np.mean((viewer.layers["last kmeans"].data == 2) == truth) > 0.95

    viewer.dims.axis_labels = ("channel", "y", "x")
    viewer.add_image(image, name="first")
    assert widget.channel_axis.value == 0


def test_time_stack_of_channels(viewer, qtbot):
    image, truth = fluorescence((32, 32))
    movie = np.stack([image, image[:, :, ::-1]])  # (T, C, Y, X)
    viewer.add_image(movie, name="movie", axis_labels=("t", "c", "y", "x"), scale=(5, 1, 0.5, 0.5))
    widget = open_widget(viewer, "KMeans segmentation")
    assert widget.channel_axis.value == 1 and not widget.all_slices.native.isHidden()
    widget.auto_update.value = False
    widget.all_slices.value = True
    click_and_wait(qtbot, widget)
    labels = viewer.layers["movie kmeans"]
    assert labels.data.shape == (2, 32, 32)
    np.testing.assert_array_equal(labels.scale, (5, 0.5, 0.5))
    assert np.mean((labels.data[0] == 2) == truth) > 0.95 and np.mean((labels.data[1] == 2) == truth[:, ::-1]) > 0.95
