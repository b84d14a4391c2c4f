"""The dock widgets driven in a real napari viewer (Xvfb), by clicking their buttons."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

from widget_helpers import (
    PLUGIN, WAIT_MS, blobs, click_and_wait, open_widget, small_backprop, small_prior, start_long_prior,
    three_regions,
)

# --- Deep Segmentation Prior ---------------------------------------------------------------------

def test_prior_widget_adds_prior_like_the_image(viewer, qtbot):
    image = (np.clip(blobs()[0], 0, 1) * 1000).astype(np.uint16)
    viewer.add_image(image, name="blob", scale=(3, 2), translate=(1, 1), contrast_limits=(50, 900))
    widget = open_widget(viewer, "Deep Segmentation Prior")
    assert "Adam" in widget.iterations.tooltip and widget.restarts.tooltip
    small_prior(widget)
    seen = []
    widget.progress.changed.connect(seen.append)
    click_and_wait(qtbot, widget)
    prior = viewer.layers["blob prior"]
    assert isinstance(prior, napari.layers.Image) and prior.data.shape == image.shape
    assert prior.data.dtype == np.float32
    assert image.min() <= prior.data.min() < prior.data.max() <= image.max()  # the image's intensity scale
    np.testing.assert_array_equal(prior.scale, (3, 2))
    np.testing.assert_array_equal(prior.translate, (1, 1))
    np.testing.assert_array_equal(prior.contrast_limits, (50, 900))
    assert prior.metadata["napari_dsp"]["parameters"]["restarts"] == 2
    assert widget.progress.max == 6 and widget.progress.value == 6 and seen  # throttled: a few updates
    assert widget.image.value.name == "blob"  # a prior is not offered as an image to fit a prior on


def test_prior_widget_estimates_and_fits_in_bfloat16_when_chosen(viewer, qtbot, monkeypatch):
    import napari_dsp.prior

    image, truth = blobs()
    viewer.add_image(image, name="blob")
    widget = open_widget(viewer, "Deep Segmentation Prior")
    calls, fit = [], napari_dsp.prior.deep_segmentation_prior
    monkeypatch.setattr(napari_dsp.prior, "deep_segmentation_prior",
                        lambda *args, **kwargs: calls.append(kwargs["precision"]) or fit(*args, **kwargs))
    assert widget.precision.value == "float32" and "AVX-512" in widget.precision.tooltip
    small_prior(widget, iterations=20)
    widget.precision.value = "bfloat16"
    click_and_wait(qtbot, widget)
    prior = viewer.layers["blob prior"]
    assert calls == ["bfloat16"] and prior.metadata["napari_dsp"]["parameters"]["precision"] == "bfloat16"
    assert "estimated time" in widget.note.value
    assert ((prior.data > image.mean()) == truth).mean() > 0.9


def test_cancel_mid_fit_stops_quickly_and_restores(viewer, qtbot):
    _dock, widget = start_long_prior(viewer, qtbot)
    qtbot.waitUntil(lambda: widget.progress.value >= 2, timeout=WAIT_MS)
    assert not widget.run_button.enabled
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=5_000)
    assert widget.run_button.enabled and widget.status.value == "cancelled"
    assert [layer.name for layer in viewer.layers] == ["blob"]


# --- Segment ----------------------------------------------------------------------------------------

def test_segment_widget_shows_prior_and_labels(viewer, qtbot):
    image, truth = blobs()
    viewer.add_image(image, name="blob")
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value = 20, 2
    widget.method.value = "foreground"
    assert not widget.n_clusters.enabled
    click_and_wait(qtbot, widget)
    assert isinstance(viewer.layers["blob prior"], napari.layers.Image)
    mask = viewer.layers["blob foreground"]
    assert isinstance(mask, napari.layers.Labels) and mask.data.shape == image.shape
    assert np.mean((mask.data == 1) == truth) > 0.9
    assert mask.metadata["napari_dsp"]["parameters"]["method"] == "foreground"
    assert mask.metadata["napari_dsp"]["parameters"]["center_sigma"] == widget.center_sigma.value > 0
    saliency = viewer.layers["blob saliency"]  # the map behind the mask, as an Image layer
    assert isinstance(saliency, napari.layers.Image) and saliency.data.shape == image.shape
    assert saliency.data[truth].mean() > saliency.data[~truth].mean() + 0.3


def test_segment_widget_centre_prior_box_is_foregrounds_and_switches_off(viewer, qtbot):
    image, truth = blobs()
    viewer.add_image(image, name="blob")
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value = 20, 2
    assert not widget.center_sigma.enabled
    assert "center_sigma" not in widget.parameters()
    widget.method.value = "foreground"
    assert widget.center_sigma.enabled and "centre" in widget.center_sigma.tooltip
    widget.center_sigma.value = 0.0
    assert widget.center_sigma.native.text() == "off"
    click_and_wait(qtbot, widget)
    mask = viewer.layers["blob foreground"]
    assert mask.metadata["napari_dsp"]["parameters"]["center_sigma"] == 0.0
    assert np.mean((mask.data == 1) == truth) > 0.9


def test_segment_widget_regions_method(viewer, qtbot):
    viewer.add_image(three_regions(), name="bands")
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value = 20, 2
    widget.method.value = "regions"
    click_and_wait(qtbot, widget)
    labels = viewer.layers["bands regions"]
    assert isinstance(labels, napari.layers.Labels) and labels.data.shape == (30, 45)
    # the three bands stay apart (a 20-iteration prior of a tiny image leaves a few extra slivers)
    assert len({int(np.bincount(labels.data[:, band].ravel()).argmax()) for band in (slice(0, 15), slice(15, 30),
                                                                             slice(30, 45))}) == 3
    assert "bands saliency" not in viewer.layers


def test_segment_widget_region_boxes_set_the_number_of_regions(viewer, qtbot):
    rng = np.random.default_rng(0)
    viewer.add_image(np.kron(rng.random((4, 6)), np.ones((10, 10))).astype(np.float32), name="blocks")
    widget = open_widget(viewer, "Segment")
    small_prior(widget, iterations=2, restarts=1)
    assert not widget.threshold.enabled and not widget.min_size.enabled
    widget.method.value = "regions"
    assert widget.threshold.enabled and widget.min_size.enabled and not widget.max_iterations.enabled
    counts = []
    for threshold in (1000.0, 0.5):
        widget.threshold.value = threshold
        click_and_wait(qtbot, widget)
        counts.append(int(viewer.layers[-1].data.max()))
        assert viewer.layers[-1].metadata["napari_dsp"]["parameters"]["region_options"]["threshold"] == threshold
    assert counts[0] == 1 and counts[1] > 10


def test_segment_widget_regions_need_no_prior(viewer, qtbot, monkeypatch):
    import napari_dsp.pipeline

    monkeypatch.setattr(napari_dsp.pipeline, "deep_segmentation_prior",
                        lambda *args, **kwargs: pytest.fail("the prior was fitted"))
    viewer.add_image(three_regions(), name="bands")
    widget = open_widget(viewer, "Segment")
    assert widget.fit_prior.native.isHidden() and widget.iterations.enabled
    widget.method.value = "regions"
    assert not widget.fit_prior.native.isHidden() and not widget.fit_prior.value and not widget.iterations.enabled
    click_and_wait(qtbot, widget)
    labels = viewer.layers["bands regions"]
    assert labels.data.max() == 3 and "bands prior" not in viewer.layers
    assert "estimated time: under a second" in widget.note.value
    parameters = labels.metadata["napari_dsp"]["parameters"]
    assert parameters["fit_prior"] is False and "iterations" not in parameters
    widget.fit_prior.value = True
    assert widget.iterations.enabled


def test_segment_widget_refits_the_prior_only_when_the_prior_would_change(viewer, qtbot, monkeypatch):
    import napari_dsp.pipeline

    fits, fit = [], napari_dsp.pipeline.deep_segmentation_prior
    monkeypatch.setattr(napari_dsp.pipeline, "deep_segmentation_prior",
                        lambda *args, **kwargs: fits.append(kwargs["seed"]) or fit(*args, **kwargs))
    rng = np.random.default_rng(0)
    layer = viewer.add_image(np.kron(rng.random((4, 6)), np.ones((10, 10))).astype(np.float32), name="blocks")
    widget = open_widget(viewer, "Segment")
    widget.method.value = "regions"
    widget.fit_prior.value = True
    small_prior(widget, iterations=2, restarts=1)
    counts = []
    for threshold in (1000.0, 0.5):  # the tuning loop: only the segmentation changes
        widget.threshold.value = threshold
        click_and_wait(qtbot, widget)
        counts.append(int(viewer.layers["blocks regions"].data.max()))
    assert fits == [0] and counts[0] == 1 and counts[1] > 10
    assert "the prior of the last run is reused" in widget.note.value
    widget.method.value = "kmeans"  # a different prior recipe
    small_prior(widget, iterations=2, restarts=1)
    click_and_wait(qtbot, widget)
    widget.n_clusters.value = 2
    click_and_wait(qtbot, widget)
    assert fits == [0, 0] and viewer.layers["blocks kmeans"].data.max() == 2
    widget.seed.value = 1
    click_and_wait(qtbot, widget)
    layer.data = layer.data[::-1].copy()  # the user changed the image
    click_and_wait(qtbot, widget)
    assert fits == [0, 0, 1, 1] and "reused" not in widget.note.value
    widget.precision.value = "bfloat16"
    click_and_wait(qtbot, widget)
    assert fits == [0, 0, 1, 1, 1] and "reused" not in widget.note.value


def test_segment_widget_backprop_method(viewer, qtbot):
    viewer.add_image(three_regions((16, 24)), name="steps")
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value = 5, 2
    assert not widget.max_iterations.enabled
    widget.method.value = "backprop"
    assert widget.max_iterations.enabled and not widget.n_clusters.enabled
    widget.max_iterations.value = 3
    click_and_wait(qtbot, widget)
    labels = viewer.layers["steps backprop"].data
    assert labels.shape == (16, 24) and labels.min() >= 1
    assert viewer.layers["steps prior"].data.shape == (16, 24)
    options = viewer.layers["steps backprop"].metadata["napari_dsp"]["parameters"]["backprop_options"]
    assert options["max_iterations"] == 3 and options["warmup"] == widget.warmup.value


def test_segment_all_slices_of_rgb_stack(viewer, qtbot):
    stack = np.zeros((2, 16, 20, 3), np.uint8)
    stack[0, :, 10:] = 200
    stack[1, 8:] = 200
    viewer.add_image(stack, name="movie", rgb=True)
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value = 20, 2
    widget.all_slices.value = True
    click_and_wait(qtbot, widget)
    prior, labels = viewer.layers["movie prior"], viewer.layers["movie kmeans"]
    assert prior.rgb and prior.data.shape == stack.shape and labels.data.shape == (2, 16, 20)
    assert labels.data[0, 4, 2] != labels.data[0, 4, 17] and labels.data[1, 2, 4] != labels.data[1, 13, 4]
    assert "per slice" in widget.note.value


# --- KMeans ---------------------------------------------------------------------------------------

def test_kmeans_widget_labels_keep_scale_and_record_parameters(viewer, qtbot):
    image, truth = blobs()
    viewer.add_image(image, name="blob", scale=(2.0, 0.5), translate=(10, -3))
    widget = open_widget(viewer, "KMeans segmentation")
    assert widget.image.value == viewer.layers["blob"]
    click_and_wait(qtbot, widget)
    labels = viewer.layers["blob kmeans"]
    assert isinstance(labels, napari.layers.Labels)
    assert labels.data.shape == image.shape and labels.data.dtype == np.int32
    np.testing.assert_array_equal(labels.scale, (2.0, 0.5))
    np.testing.assert_array_equal(labels.translate, (10, -3))
    assert set(np.unique(labels.data)) == {1, 2}
    assert np.mean((labels.data == 2) == truth) > 0.95  # label 2 is the brighter class
    metadata = labels.metadata["napari_dsp"]
    assert metadata["source"] == "blob" and metadata["kind"] == "kmeans" and metadata["complete"]
    assert metadata["parameters"]["n_clusters"] == 2 and metadata["parameters"]["window"] == 7
    # an ordinary editable Labels layer
    labels.paint((0, 0), 5)
    assert labels.data[0, 0] == 5


def test_kmeans_widget_resegments_on_parameter_change(viewer, qtbot):
    viewer.add_image(three_regions(), name="steps")
    widget = open_widget(viewer, "KMeans segmentation")
    widget.window.value = 3
    click_and_wait(qtbot, widget)
    layer = viewer.layers["steps kmeans"]
    assert len(np.unique(layer.data)) == 2
    widget.n_clusters.value = 3  # auto-update: no click
    qtbot.waitUntil(lambda: len(np.unique(layer.data)) == 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    assert viewer.layers["steps kmeans"] is layer and len(viewer.layers) == 2
    assert layer.metadata["napari_dsp"]["parameters"]["n_clusters"] == 3
    np.testing.assert_array_equal(np.unique(layer.data[:, 16:29]), [2])

    widget.auto_update.value = False
    widget.n_clusters.value = 2
    qtbot.wait(3 * widget.DEBOUNCE_MS)
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    assert len(np.unique(layer.data)) == 3


def test_foreground_mode_gives_zero_one_mask(viewer, qtbot):
    image, truth = blobs()
    viewer.add_image(image, name="blob")
    widget = open_widget(viewer, "KMeans segmentation")
    widget.auto_update.value = False
    widget.mode.value = "foreground/background"
    click_and_wait(qtbot, widget)
    mask = viewer.layers["blob foreground"].data
    assert set(np.unique(mask)) == {0, 1}
    assert np.mean((mask == 1) == truth) > 0.95


def test_rerun_updates_own_layer_and_leaves_user_layer_alone(viewer, qtbot):
    image, _ = blobs()
    viewer.add_image(image, name="blob")
    user = viewer.add_labels(np.full(image.shape, 7, np.int32), name="blob kmeans")
    viewer.layers.selection.active = viewer.layers["blob"]
    widget = open_widget(viewer, "KMeans segmentation")
    widget.auto_update.value = False
    click_and_wait(qtbot, widget)
    ours = [layer for layer in viewer.layers if layer.metadata.get("napari_dsp")]
    assert len(ours) == 1 and ours[0] is not user
    widget.n_clusters.value = 3
    click_and_wait(qtbot, widget)
    assert [layer for layer in viewer.layers if layer.metadata.get("napari_dsp")] == ours
    assert ours[0].metadata["napari_dsp"]["parameters"]["n_clusters"] == 3
    assert len(viewer.layers) == 3 and np.all(user.data == 7) and user.name == "blob kmeans"


def test_image_choice_follows_selection_until_user_picks(viewer, qtbot):
    first = viewer.add_image(three_regions(), name="first")
    widget = open_widget(viewer, "KMeans segmentation")
    second = viewer.add_image(three_regions(), name="second")
    assert widget.image.value == second
    viewer.layers.selection.active = first
    assert widget.image.value == first
    viewer.add_labels(np.zeros((30, 45), np.int32), name="not an image")
    assert widget.image.value == first  # a Labels layer is never an input
    widget.image.value = second  # explicit choice in the widget
    viewer.layers.selection.active = first
    assert widget.image.value == second


def test_stack_current_slice_and_all_slices(viewer, qtbot):
    halves = np.zeros((20, 30), np.float32)
    halves[:, 15:] = 1
    stack = np.stack([halves, halves[:, ::-1], halves])
    viewer.add_image(stack, name="stack", scale=(5, 1, 1))
    widget = open_widget(viewer, "KMeans segmentation")
    widget.auto_update.value = False
    assert not widget.all_slices.native.isHidden()  # the viewer window itself is hidden in tests
    viewer.dims.set_current_step(0, 1)
    click_and_wait(qtbot, widget)
    labels = viewer.layers["stack kmeans"]
    assert labels.data.shape == stack.shape
    assert labels.data[1].all() and not labels.data[0].any() and not labels.data[2].any()
    assert labels.metadata["napari_dsp"]["planes"] == [[1]]
    np.testing.assert_array_equal(labels.scale, (5, 1, 1))
    viewer.dims.set_current_step(0, 2)
    click_and_wait(qtbot, widget)
    assert labels.data[1].all() and labels.data[2].all() and not labels.data[0].any()
    assert labels.metadata["napari_dsp"]["planes"] == [[1], [2]]

    widget.all_slices.value = True
    click_and_wait(qtbot, widget)
    assert viewer.layers["stack kmeans"] is labels and labels.data.all()
    assert widget.progress.max == 3 and widget.progress.value == 3
    np.testing.assert_array_equal(labels.data[0], labels.data[1][:, ::-1])
    np.testing.assert_array_equal(labels.data[0], 1 + (stack[0] > 0.5))


def test_rgb_stack_gives_labels_without_channel_axis(viewer, qtbot):
    rgb = np.zeros((2, 20, 24, 3), np.uint8)
    rgb[:, :, 12:, 0] = 255
    viewer.add_image(rgb, name="rgb", rgb=True)
    widget = open_widget(viewer, "KMeans segmentation")
    widget.all_slices.value = True
    click_and_wait(qtbot, widget)
    labels = viewer.layers["rgb kmeans"].data
    assert labels.shape == (2, 20, 24)
    assert np.all(labels[:, :, :12] == 1) and np.all(labels[:, :, 12:] == 2)


# --- user errors become notifications ----------------------------------------------------------

def test_no_image_is_a_notification(viewer, qtbot, notifications):
    viewer.add_labels(np.zeros((20, 20), np.int32), name="labels only")
    widget = open_widget(viewer, "KMeans segmentation")
    click_and_wait(qtbot, widget)
    assert any("no image layer" in message for _, message in notifications())
    assert len(viewer.layers) == 1


def test_window_larger_than_image_is_a_notification(viewer, qtbot, notifications):
    viewer.add_image(np.random.default_rng(0).random((5, 5)), name="tiny")
    widget = open_widget(viewer, "KMeans segmentation")
    click_and_wait(qtbot, widget)
    errors = [message for severity, message in notifications() if severity == "error"]
    assert errors and "window" in errors[0]
    assert len(viewer.layers) == 1 and widget.status.value == "failed"


def test_missing_gpu_is_disabled_and_a_notification(viewer, qtbot, notifications):
    from napari_dsp._device import available_devices

    if "cuda" in available_devices():
        pytest.skip("this machine has CUDA")
    viewer.add_image(three_regions(), name="steps")
    widget = open_widget(viewer, "Backprop segmentation")
    model = widget.device.native.model()
    assert not model.item(widget.device.choices.index("cuda")).isEnabled()
    widget.device.value = "cuda"
    click_and_wait(qtbot, widget)
    assert any("cuda" in message and "not available" in message for _, message in notifications())
    assert len(viewer.layers) == 1


# --- Backprop -------------------------------------------------------------------------------------

def test_backprop_widget_with_guide_and_tooltips(viewer, qtbot, notifications):
    image = three_regions()
    viewer.add_image(image, name="steps")
    widget = open_widget(viewer, "Backprop segmentation")
    assert "superpixel" in widget.n_segments.tooltip.lower() or "SLIC" in widget.n_segments.tooltip
    assert widget.n_features.tooltip and not widget.advanced.visible
    small_backprop(widget)
    click_and_wait(qtbot, widget)
    labels = viewer.layers["steps backprop"]
    assert isinstance(labels, napari.layers.Labels) and labels.data.shape == image.shape
    assert labels.data.min() >= 1
    metadata = labels.metadata["napari_dsp"]
    assert metadata["parameters"]["guide"] == "raw image" and metadata["parameters"]["max_iterations"] == 4
    assert "estimated time" in widget.note.value
    assert any("no prior fitted" in message for _, message in notifications())


def test_backprop_scribbles_and_refine_from_edits(viewer, qtbot, notifications):
    image = three_regions()
    viewer.add_image(image, name="steps")
    widget = open_widget(viewer, "Backprop segmentation")
    small_backprop(widget)
    click_and_wait(qtbot, widget, widget.refine_button)  # nothing to refine yet
    assert any("no backprop result" in message for _, message in notifications())

    click_and_wait(qtbot, widget)
    result = viewer.layers["steps backprop"]
    result.data[:, :15] = 41  # the user paints a correction
    result.refresh()
    click_and_wait(qtbot, widget, widget.refine_button)
    result = viewer.layers["steps backprop [1]"]  # the edited layer is kept (test_runs.py)
    assert np.mean(result.data[:, :15] == 41) > 0.9  # scribbles pull (weight 0.5), they do not force
    assert result.metadata["napari_dsp"]["parameters"]["scribbles"] is True

    widget.new_scribbles_button.native.click()
    scribbles = viewer.layers["steps scribbles"]
    assert widget.scribbles.value == scribbles and scribbles.mode == "paint"
    assert scribbles.data.shape == image.shape and not scribbles.data.any()
    scribbles.data[:, 35:] = 3
    click_and_wait(qtbot, widget)
    assert np.mean(result.data[:, 35:] == 3) > 0.9


def test_cancel_stops_backprop_and_leaves_no_layer(viewer, qtbot):
    viewer.add_image(np.random.default_rng(0).random((48, 48)).astype(np.float32), name="noise")
    widget = open_widget(viewer, "Backprop segmentation")
    small_backprop(widget, iterations=100_000)
    widget.min_labels.value = 1
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: widget.progress.value >= 3, timeout=WAIT_MS)
    assert not widget.run_button.enabled
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=5_000)
    assert widget.run_button.enabled and widget.status.value == "cancelled"
    assert [layer.name for layer in viewer.layers] == ["noise"]


# --- Spectrum and samples ----------------------------------------------------------------------

def test_spectrum_widget_plots_image(viewer, qtbot):
    viewer.add_image(blobs()[0], name="blob")
    widget = open_widget(viewer, "Power spectrum")
    assert widget.image.value == viewer.layers["blob"]
    curves = lambda: [line.get_label() for line in widget.axes.lines if not line.get_label().startswith("_")]
    qtbot.waitUntil(lambda: not widget.computing, timeout=WAIT_MS)
    assert len(curves()) == 2 and "no prior" in widget.note.value  # image and low-pass baseline
    smooth = np.full((36, 40), 0.5, np.float32)
    viewer.add_image(smooth, name="blob prior", metadata={"napari_dsp": {"kind": "prior", "source": "blob"}})
    assert widget.image.value.name == "blob"
    widget.refresh_button.native.click()
    qtbot.waitUntil(lambda: not widget.computing, timeout=WAIT_MS)
    assert len(curves()) == 3 and any(label.startswith("prior") for label in curves())


def test_menu_entries(viewer):
    def entries(menu, path):
        for action in menu.actions():
            text = path + action.text().replace("&", "")
            yield from entries(action.menu(), text + " > ") if action.menu() else [text]

    bar = viewer.window._qt_window.menuBar()  # napari has no public API to read its menus
    items = set(entries(bar, ""))
    for name in ["Segment", "Deep Segmentation Prior", "KMeans segmentation", "Backprop segmentation"]:
        assert f"Layers > Segment > {name} (Deep Segmentation Prior)" in items
        assert f"Plugins > Deep Segmentation Prior > {name} (Deep Segmentation Prior)" in items
    assert "Layers > Measure > Power spectrum (Deep Segmentation Prior)" in items
    assert "File > Open Sample > Deep Segmentation Prior > Coffee cup (400 x 600 RGB)" in items


@pytest.mark.parametrize("name", ["coffee", "chelsea", "astronaut"])
def test_sample_data_opens_rgb_image(viewer, name):
    viewer.open_sample(PLUGIN, name)
    layer = viewer.layers[name]
    assert layer.rgb and layer.data.ndim == 3 and layer.data.dtype == np.uint8


# --- every parameter explains itself; screenshot ----------------------------------------------------

@pytest.mark.parametrize("name", ["Segment", "Deep Segmentation Prior", "KMeans segmentation",
                                  "Backprop segmentation", "Power spectrum"])
def test_every_parameter_has_a_tooltip(viewer, name):
    from magicgui.widgets import Container, Label, ProgressBar, PushButton
    from magicgui.widgets.bases import ValueWidget

    def parameters(container):
        for child in container:
            if isinstance(child, Container):
                yield from parameters(child)
            elif isinstance(child, ValueWidget) and not isinstance(child, (Label, ProgressBar, PushButton)):
                yield child

    widgets = list(parameters(open_widget(viewer, name)))
    assert widgets and all(len(widget.tooltip or "") > 10 for widget in widgets), [
        widget.label for widget in widgets if not widget.tooltip
    ]


def test_screenshot_of_image_prior_and_labels(viewer, qtbot, tmp_path):
    """Writes the README's screenshot; set NAPARI_DSP_SCREENSHOT_DIR to keep a copy (docs/images)."""
    import os
    import shutil

    from napari_dsp.samples import load_sample

    viewer.add_image(load_sample("coffee")[::2, ::2], name="coffee")
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value, widget.n_clusters.value = 25, 3, 3
    click_and_wait(qtbot, widget)
    viewer.grid.enabled = True
    viewer.grid.shape = (1, 3)
    viewer.window.show()
    qtbot.wait(500)
    path = tmp_path / "napari-dsp.png"
    screenshot = viewer.window.screenshot(path=str(path), flash=False, canvas_only=False)
    assert path.stat().st_size > 10_000
    rgb = screenshot[..., :3].astype(float)
    assert rgb.mean() > 20 and rgb.std() > 20  # not black, not blank
    if os.environ.get("NAPARI_DSP_SCREENSHOT_DIR"):
        shutil.copy(path, os.environ["NAPARI_DSP_SCREENSHOT_DIR"])


# --- saving -------------------------------------------------------------------------------------------

def test_writer_saves_labels_and_prior_with_provenance(viewer, qtbot, tmp_path):
    import json

    import tifffile

    import napari_dsp

    viewer.add_image(three_regions((16, 24)), name="steps")
    widget = open_widget(viewer, "Segment")
    widget.iterations.value, widget.restarts.value = 3, 1
    click_and_wait(qtbot, widget)
    for name in ["steps kmeans", "steps prior"]:
        path = tmp_path / f"{name}.tif"
        viewer.layers[name].save(str(path), plugin=PLUGIN)
        with tifffile.TiffFile(path) as tif:
            saved = json.loads(tif.pages[0].description)["napari_dsp"]
            np.testing.assert_array_equal(tif.asarray(), viewer.layers[name].data)
        assert saved["version"] == napari_dsp.__version__ and saved["source"] == "steps"
        assert saved["parameters"]["iterations"] == 3 and saved["kind"] == name.split()[-1]


# --- Activity dock and GPU choice ----------------------------------------------------------------

def test_progress_is_also_in_the_activity_dock(viewer, qtbot):
    _dock, widget = start_long_prior(viewer, qtbot)
    qtbot.waitUntil(lambda: widget.progress.value >= 2, timeout=WAIT_MS)
    activity = widget.activity
    assert isinstance(activity, napari.utils.progress) and activity.total == widget.progress.max
    assert 0 < activity.n <= widget.progress.value and "blob" in activity.desc
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=WAIT_MS)
    assert widget.activity is None


def test_each_of_several_gpus_is_a_choice(viewer, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    widget = open_widget(viewer, "Deep Segmentation Prior")
    assert {"cuda", "cuda:0", "cuda:1"} <= set(widget.device.choices)
    model = widget.device.native.model()
    assert model.item(widget.device.choices.index("cuda:1")).isEnabled()


# --- settings are remembered ----------------------------------------------------------------------

def test_settings_are_remembered_until_restore_defaults(viewer):
    from napari_dsp._plugin.prior_widget import PriorWidget
    from napari_dsp._plugin.segment_widget import SegmentWidget

    widget = open_widget(viewer, "Deep Segmentation Prior")
    defaults = widget.iterations.value, widget.restarts.value
    widget.preset.value = "paper"
    widget.iterations.value, widget.device.value = 7, "cpu"
    again = PriorWidget(viewer)  # as in the next napari session
    assert (again.preset.value, again.iterations.value, again.device.value) == ("paper", 7, "cpu")
    again.restore_button.native.click()
    assert again.preset.value == "fast" and (again.iterations.value, again.restarts.value) == defaults
    assert PriorWidget(viewer).iterations.value == defaults[0]

    segment = SegmentWidget(viewer)
    segment.method.value, segment.restarts.value, segment.warmup.value = "backprop", 4, 9
    again = SegmentWidget(viewer)
    assert (again.method.value, again.restarts.value, again.warmup.value) == ("backprop", 4, 9)
    assert again.warmup.enabled and not again.n_clusters.enabled


# --- presets ----------------------------------------------------------------------------------------

def test_preset_sets_the_prior_boxes(viewer):
    from napari_dsp.pipeline import prior_recipe
    from napari_dsp.recipes import get_preset

    prior = open_widget(viewer, "Deep Segmentation Prior")
    assert prior.preset.value == "fast" and "interactive" in prior.preset.tooltip and "paper" in prior.preset.tooltip
    for name in ["paper", "fast"]:
        prior.preset.value = name
        recipe = get_preset(name).foreground_prior
        assert (prior.iterations.value, prior.restarts.value, prior.max_size.value) == (
            recipe.iterations, recipe.restarts, recipe.max_size)
        assert prior.parameters()["preset"] == name

    segment = open_widget(viewer, "Segment")
    segment.method.value, segment.preset.value = "backprop", "paper"
    recipe = prior_recipe("backprop", get_preset("paper"))
    assert (segment.iterations.value, segment.restarts.value) == (recipe.iterations, recipe.restarts)
    assert segment.scale.value == get_preset("paper").backprop.scale
    backprop = open_widget(viewer, "Backprop segmentation")
    backprop.precision.value = "bfloat16"
    assert backprop.parameters()["precision"] == "bfloat16" and "AVX2" in backprop.precision.tooltip
    backprop.preset.value = "paper"
    assert backprop.scale.value == get_preset("paper").backprop.scale
    assert backprop.parameters()["precision"] == get_preset("paper").backprop.precision == "float32"
