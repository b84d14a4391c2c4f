"""Helpers of the widget tests: open a dock, click and wait, small images and settings."""

import numpy as np

PLUGIN = "napari-dsp"
WAIT_MS = 60_000


def open_widget(viewer, name):
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def click_and_wait(qtbot, widget, button=None):
    """Click `button` (default: Run) like a user would, then wait for the worker to finish."""
    (button or widget.run_button).native.click()
    try:
        qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    finally:
        if widget.running:
            widget.cancel_button.native.click()
            qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def blobs(shape=(36, 40)):
    """A float image with a bright square on a dark background, and its (M, N) truth mask."""
    truth = np.zeros(shape, bool)
    truth[8:24, 10:30] = True
    rng = np.random.default_rng(0)
    return (truth * 0.8 + 0.1 + rng.normal(0, 0.03, shape)).astype(np.float32), truth


def three_regions(shape=(30, 45)):
    image = np.zeros(shape, np.float32)
    image[:, 15:30] = 0.5
    image[:, 30:] = 1.0
    return image


def small_prior(widget, iterations=3, restarts=2):
    widget.iterations.value = iterations
    widget.restarts.value = restarts
    widget.max_size.value = 0
    widget.device.value = "cpu"


def small_backprop(widget, iterations=4):
    widget.n_segments.value = 40
    widget.max_iterations.value = iterations
    widget.warmup.value = 1
    widget.n_features.value = 16
    widget.device.value = "cpu"


def start_long_prior(viewer, qtbot):
    """Start a prior fit on a "blob" image that runs until cancelled; return the dock and the widget."""
    viewer.add_image(blobs()[0], name="blob")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deep Segmentation Prior")
    small_prior(widget, iterations=100_000, restarts=1)
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: "blob prior" in viewer.layers, timeout=WAIT_MS)  # the live preview
    return dock, widget
