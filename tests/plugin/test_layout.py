"""Five docks in a 1280 x 1024 window: the window fits the screen and every Run button is on it."""

import os
import shutil

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from widget_helpers import open_widget

DOCKS = ["Segment", "Deep Segmentation Prior", "KMeans segmentation", "Backprop segmentation", "Power spectrum"]


def test_all_docks_fit_the_screen_with_every_run_button_visible(viewer, qtbot, tmp_path):
    """Writes docs/images' dock screenshot when NAPARI_DSP_SCREENSHOT_DIR is set."""
    from qtpy.QtCore import QPoint

    from napari_dsp.samples import load_sample

    viewer.add_image(load_sample("coffee")[::2, ::2], name="coffee")
    widgets = [open_widget(viewer, name) for name in DOCKS]
    viewer.window.show()
    viewer.window.resize(1280, 1024)  # what a window manager does on a 1280 x 1024 screen
    qtbot.wait(500)
    window = widgets[0].native.window()
    screen = window.screen().availableGeometry()
    assert window.frameGeometry().height() <= screen.height() and window.frameGeometry().width() <= screen.width()
    for widget in widgets[:-1]:
        button = widget.run_button.native
        top_left = button.mapTo(window, QPoint(0, 0))
        assert button.isVisible() and not button.visibleRegion().isEmpty(), widget
        assert 0 <= top_left.y() and top_left.y() + button.height() <= window.height(), widget
    path = tmp_path / "napari-dsp-docks.png"
    screenshot = viewer.window.screenshot(path=str(path), flash=False, canvas_only=False)
    assert np.asarray(screenshot)[..., :3].std() > 20
    if os.environ.get("NAPARI_DSP_SCREENSHOT_DIR"):
        shutil.copy(path, os.environ["NAPARI_DSP_SCREENSHOT_DIR"])
