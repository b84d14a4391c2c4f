"""Runs in a real viewer: the user's edits are kept, one run per output, stopping, responsiveness, odd images."""

import time

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from widget_helpers import (
    WAIT_MS, blobs, click_and_wait, open_widget, small_backprop, small_prior, start_long_prior, three_regions,
)


def plugin_layers(viewer, kind):
    return [layer for layer in viewer.layers if layer.metadata.get("napari_dsp", {}).get("kind") == kind]


# --- edits are kept ---------------------------------------------------------------------------------

def test_painted_labels_are_never_overwritten(viewer, qtbot, notifications):
    viewer.add_image(three_regions(), name="steps")
    widget = open_widget(viewer, "KMeans segmentation")
    widget.window.value = 3
    click_and_wait(qtbot, widget)
    painted = viewer.layers["steps kmeans"]
    painted.paint((0, 0), 9)  # the user paints a stroke
    kept = painted.data.copy()

    widget.n_clusters.value = 3  # auto-update: no click
    qtbot.waitUntil(lambda: len(plugin_layers(viewer, "kmeans")) == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    np.testing.assert_array_equal(painted.data, kept)
    fresh = plugin_layers(viewer, "kmeans")[1]
    assert len(np.unique(fresh.data)) == 3 and fresh.name != painted.name
    assert "has your edits" in widget.note.value
    assert any("has your edits" in message for _, message in notifications())

    # the new, unedited layer is the one re-runs update; undo/redo history from before a write is gone
    fresh.paint((0, 0), 9)
    fresh.undo()
    widget.n_clusters.value = 2
    qtbot.waitUntil(lambda: len(np.unique(fresh.data)) == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    written = fresh.data.copy()
    fresh.redo()
    fresh.undo()
    np.testing.assert_array_equal(fresh.data, written)
    assert len(plugin_layers(viewer, "kmeans")) == 2
    np.testing.assert_array_equal(painted.data, kept)


def test_refine_keeps_the_edited_backprop_layer(viewer, qtbot):
    viewer.add_image(three_regions(), name="steps")
    widget = open_widget(viewer, "Backprop segmentation")
    small_backprop(widget)
    click_and_wait(qtbot, widget)
    edited = viewer.layers["steps backprop"]
    edited.data[:, :15] = 41
    edited.refresh()
    kept = edited.data.copy()
    click_and_wait(qtbot, widget, widget.refine_button)
    np.testing.assert_array_equal(edited.data, kept)
    refined = plugin_layers(viewer, "backprop")[-1]
    assert refined is not edited and refined.metadata["napari_dsp"]["parameters"]["scribbles"] is True
    assert np.mean(refined.data[:, :15] == 41) > 0.9


# --- one run per output -----------------------------------------------------------------------------

def test_second_run_on_the_same_output_writes_elsewhere(viewer, qtbot):
    viewer.add_image(blobs()[0], name="blob")
    prior_widget = open_widget(viewer, "Deep Segmentation Prior")
    small_prior(prior_widget, iterations=3, restarts=1)
    click_and_wait(qtbot, prior_widget)
    first = viewer.layers["blob prior"]
    finished = first.data.copy()

    small_prior(prior_widget, iterations=100_000, restarts=1)
    segment = open_widget(viewer, "Segment")
    segment.iterations.value, segment.restarts.value, segment.max_size.value = 3, 1, 0
    prior_widget.run_button.native.click()
    click_and_wait(qtbot, segment)  # at once: the first run has not written into its layer yet
    assert prior_widget.running
    priors = plugin_layers(viewer, "prior")
    assert len(priors) == 2 and priors[0] is first
    second = priors[1].data.copy()
    prior_widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: not prior_widget.running, timeout=WAIT_MS)
    np.testing.assert_array_equal(first.data, finished)  # rolled back to its own earlier result
    np.testing.assert_array_equal(plugin_layers(viewer, "prior")[1].data, second)  # the other run's, untouched


# --- stopping ---------------------------------------------------------------------------------------

def test_closing_the_dock_stops_its_run(viewer, qtbot):
    dock, widget = start_long_prior(viewer, qtbot)
    viewer.window.remove_dock_widget(dock)  # what the dock's x does
    qtbot.waitUntil(lambda: not widget.running, timeout=10_000)
    assert [layer.name for layer in viewer.layers] == ["blob"]


def test_deleting_the_input_stops_the_run_and_leaves_no_orphan(viewer, qtbot, notifications):
    _dock, widget = start_long_prior(viewer, qtbot)
    viewer.layers.remove("blob")
    qtbot.waitUntil(lambda: not widget.running, timeout=10_000)
    assert len(viewer.layers) == 0
    assert any(severity == "warning" and "deleted" in message for severity, message in notifications())
    assert "deleted" in widget.status.value


# --- responsiveness ---------------------------------------------------------------------------------

def test_gui_stays_responsive_during_a_fit(viewer, qtbot):
    """Longest gap between two 10 ms timer ticks while the prior trains, previews and all: under 200 ms.

    Measured from the first preview (napari adding the layer takes its time once) to Cancel. One longer gap
    is tolerated: on a loaded machine the scheduler alone can stall the GUI thread that long once.
    """
    from qtpy.QtCore import QTimer

    viewer.add_image(np.random.default_rng(0).random((16, 16)).astype(np.float32), name="noise")  # fast iterations
    viewer.window.show()
    widget = open_widget(viewer, "Deep Segmentation Prior")
    small_prior(widget, iterations=100_000, restarts=2)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: "noise prior" in viewer.layers, timeout=WAIT_MS)
    timer.start(10)
    qtbot.wait(3000)
    timer.stop()
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=10_000)
    gaps = np.diff(ticks)
    longest = np.sort(gaps)[-2:]
    assert len(gaps) > 50 and longest[0] < 0.2, f"longest gaps {longest} s, 95th {np.percentile(gaps, 95):.3f} s"


# --- status lines -----------------------------------------------------------------------------------

def test_status_lines_do_not_go_stale(viewer, qtbot):
    viewer.add_image(three_regions(), name="steps")
    widget = open_widget(viewer, "KMeans segmentation")
    widget.auto_update.value = False
    click_and_wait(qtbot, widget)
    assert widget.status.value.startswith("done in") and widget.note.value == ""

    prior = open_widget(viewer, "Deep Segmentation Prior")
    small_prior(prior)
    click_and_wait(qtbot, prior)
    assert prior.progress.value == prior.progress.max > 0
    small_prior(prior, iterations=100_000, restarts=1)
    prior.run_button.native.click()
    assert prior.progress.value == 0 and prior.status.value == "starting..."  # not the old 100 %
    prior.cancel_button.native.click()
    qtbot.waitUntil(lambda: not prior.running, timeout=WAIT_MS)


def test_segment_widget_shows_warmup_scale_and_estimate(viewer, qtbot):
    viewer.add_image(three_regions((16, 24)), name="steps")
    widget = open_widget(viewer, "Segment")
    assert not widget.warmup.enabled and not widget.scale.enabled
    widget.method.value = "backprop"
    assert widget.warmup.enabled and widget.scale.enabled and widget.warmup.value > 0
    widget.iterations.value, widget.restarts.value = 3, 1
    widget.max_iterations.value, widget.warmup.value, widget.scale.value = 3, 2, 0.5
    click_and_wait(qtbot, widget)
    assert "estimated time" in widget.note.value
    options = viewer.layers["steps backprop"].metadata["napari_dsp"]["parameters"]["backprop_options"]
    assert options == {"max_iterations": 3, "warmup": 2, "scale": 0.5}
    backprop = open_widget(viewer, "Backprop segmentation")
    assert backprop.cosine_annealing.text == "cosine annealing"


# --- odd images -------------------------------------------------------------------------------------

def test_rgba_alpha_is_not_a_colour(viewer, qtbot):
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[:, :12, :3], rgba[:, 12:, :3] = 100, 160  # colours: left and right
    rgba[:10, :, 3], rgba[10:, :, 3] = 0, 255  # alpha: top and bottom, much stronger
    viewer.add_image(rgba, name="rgba", rgb=True)
    widget = open_widget(viewer, "KMeans segmentation")
    widget.auto_update.value = False
    widget.window.value = 3
    click_and_wait(qtbot, widget)
    labels = viewer.layers["rgba kmeans"].data
    assert np.all(labels[:, :12] == 1) and np.all(labels[:, 12:] == 2)
    prior = open_widget(viewer, "Deep Segmentation Prior")
    small_prior(prior, restarts=1)
    click_and_wait(qtbot, prior)
    assert viewer.layers["rgba prior"].data.shape == (20, 24, 3)


def test_constant_image_is_a_warning(viewer, qtbot, notifications):
    viewer.add_image(np.full((20, 20), 0.5, np.float32), name="flat")
    widget = open_widget(viewer, "KMeans segmentation")
    click_and_wait(qtbot, widget)
    assert any(severity == "warning" and "constant" in message for severity, message in notifications())


def test_spectrum_of_a_nan_image_is_a_notification_and_runs_off_the_gui_thread(viewer, qtbot, notifications):
    image = blobs()[0]
    image[3, 4] = np.nan
    viewer.add_image(image, name="holes")
    widget = open_widget(viewer, "Power spectrum")
    qtbot.waitUntil(lambda: not widget.computing, timeout=WAIT_MS)
    assert any(severity == "error" and "NaN" in message for severity, message in notifications())
    assert "NaN" in widget.note.value and not widget.axes.lines

    viewer.add_image(blobs()[0], name="blob")
    assert widget.computing  # the FFTs run in a worker, after the selection changed
    qtbot.waitUntil(lambda: not widget.computing, timeout=WAIT_MS)
    assert widget.axes.lines and widget.note.value.startswith("blob")
