"""The napari dock widgets: Deep Segmentation Prior, KMeans, Backprop, one-click Segment, Spectrum.

Widgets only map layers and parameters to the library functions; the work
runs in thread workers (`_workers`) and the results go into the plugin's own
output layers (`_layers`).
"""

import time
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox, ComboBox, Container, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox,
)
from napari.utils.notifications import show_error, show_info, show_warning

from . import _layers, _workers
from ._layers import PRIOR, OutputLayer

if TYPE_CHECKING:
    import napari

_DEVICES = ["auto", "cpu", "cuda", "mps"]
_SEED_MAX = 2**31 - 1


def _tooltips(func) -> dict:
    """Parameter descriptions of `func`'s numpydoc docstring, by parameter name."""
    from docstring_parser import parse

    tips = {}
    for param in parse(func.__doc__ or "").params:
        for name in param.arg_name.split(","):
            tips[name.strip()] = " ".join((param.description or "").split())
    return tips


def _with_tips(func, **widgets) -> list:
    """Label `widgets` by their parameter names and give each its docstring tooltip."""
    tips = _tooltips(func)
    for name, widget in widgets.items():
        widget.name = name
        widget.tooltip = tips.get(name, widget.tooltip)
    return list(widgets.values())


def _device_box() -> ComboBox:
    """Device choice with the devices this machine lacks shown but disabled."""
    from ._device import available_devices

    box = ComboBox(choices=_DEVICES, value="auto")
    available = set(available_devices()) | {"auto"}
    model = box.native.model()
    for row, name in enumerate(_DEVICES):
        model.item(row).setEnabled(name in available)
    return box


def _device(value: str):
    """The device argument for the library, checked here so a missing GPU is a clear error."""
    from ._device import resolve_device

    return None if value == "auto" else str(resolve_device(value))


class _ImageWidget(Container):
    """A widget working on one image layer, chosen in a box that follows the viewer's selection.

    The box follows the active layer until the user picks a different layer
    in it; picking the active layer again resumes following.
    """

    image_label = "image"
    accepts_priors = False

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.image = ComboBox(label=self.image_label, choices=self._image_choices)
        self.image.tooltip = "Image layer to work on; follows the layer selected in the layer list."
        self._following = True
        self._setting_image = False
        self.image.changed.connect(self._image_chosen)
        napari_viewer.layers.selection.events.active.connect(self._follow_selection)

    def _accepts(self, layer) -> bool:
        return _layers.is_image(layer) and (self.accepts_priors or not _layers.is_prior(layer))

    def _image_choices(self, _widget=None) -> list:
        return [(layer.name, layer) for layer in self.viewer.layers if self._accepts(layer)]

    def _follow_selection(self, _event=None) -> None:
        active = self.viewer.layers.selection.active
        if self._following and active is not None and self._accepts(active):
            self.image.reset_choices()
            self._setting_image = True
            try:
                self.image.value = active
            finally:
                self._setting_image = False

    def _image_chosen(self, layer) -> None:
        if not self._setting_image:
            # == rather than `is`: napari hands widgets proxies of its layers
            self._following = layer == self.viewer.layers.selection.active
        self._show_image(layer)

    def _show_image(self, layer) -> None:
        """Adapt the widget to a newly chosen image layer (or None); nothing by default."""


class _DSPWidget(_ImageWidget):
    """An `_ImageWidget` with Run/Cancel, a progress bar and a status line, running its work in a worker.

    Subclasses build their parameter widgets, then call `_finish_layout`, and
    implement `_run`, which validates and calls `_launch`.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__(napari_viewer)
        self.all_slices = CheckBox(text="all slices", value=False, visible=False)
        self.all_slices.tooltip = (
            "For a stack (time, z): segment every 2-D slice; off segments the slice on screen."
        )
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(value=0, min=0, max=1, label="progress")
        self.status = Label(value="")
        self.note = Label(value="")
        self._job = None
        self._closed = False
        self.run_button.changed.connect(self._run_clicked)
        self.cancel_button.changed.connect(self._cancel_clicked)
        self.native.destroyed.connect(self._stop)  # closing the dock stops the run

    def _finish_layout(self, *widgets) -> None:
        buttons = Container(widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False)
        self.extend([self.image, *widgets, self.all_slices, buttons, self.progress, self.status, self.note])
        self._follow_selection()
        self._show_image(self.image.value)

    def _show_image(self, layer) -> None:
        self.all_slices.visible = layer is not None and layer.ndim > 2

    @property
    def running(self) -> bool:
        return self._job is not None

    def _run_clicked(self, _value=None) -> None:
        try:
            self._run()
        except ValueError as exc:
            show_error(str(exc))

    def _stop(self, *_args) -> None:
        self._closed = True
        if self._job is not None:
            self._job.cancel()

    def _cancel_clicked(self, _value=None) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.value = "cancelling..."

    def _source(self):
        source = _layers.image_source(self.image.value)
        indices = _layers.plane_indices(self.viewer, source, self.image.value, self.all_slices.value)
        return source, indices

    def _launch(self, task, outputs: dict, parameters: dict, indices: list, stages=None) -> None:
        """Run `task` in a worker; its planes go to `outputs` (kind -> OutputLayer)."""
        self._job = _workers.Job(len(indices), stages)
        self._set_running(True)
        self.status.value, self.note.value = "starting...", ""
        _workers.start(
            task, self._job,
            on_update=partial(self._on_update, outputs),
            on_outcome=partial(self._on_outcome, outputs, parameters, indices, time.monotonic()),
            on_finished=self._on_finished,
        )

    def _set_running(self, running: bool) -> None:
        self.run_button.enabled = not running
        self.cancel_button.enabled = running

    def _on_update(self, outputs: dict, update: _workers.Update) -> None:
        if update.plane is not None:
            outputs[update.kind].write(update.index, update.plane)
        if self._closed:
            return
        where = f" (slice {update.slice_number}/{update.n_slices})" if update.n_slices > 1 else ""
        done = update.slice_number - 1
        if update.progress is not None:
            p = update.progress
            # one bar over all slices: each slice is `total` steps long
            self.progress.max = p.total * update.n_slices
            self.progress.value = done * p.total + min(p.step, p.total)
            self.status.value = f"{p.stage}: {p.step}/{p.total}, loss {p.loss:.4f}{where}"
        elif update.n_slices > 1:
            self.progress.max, self.progress.value = update.n_slices, done + (update.plane is not None)
        if update.message:
            self.note.value = update.message + where

    def _on_outcome(self, outputs, parameters, indices, started, outcome: _workers.Outcome) -> None:
        if outcome.status == "done":
            for output in outputs.values():
                output.finish(parameters, indices)
            if self._closed:
                return
            self.progress.value = self.progress.max
            self.status.value = f"done in {time.monotonic() - started:.1f} s"
            self._succeeded(outputs)
            return
        for output in outputs.values():
            output.rollback()
        if self._closed:
            return
        if outcome.status == "cancelled":
            self.status.value = "cancelled"
            show_info("napari-dsp: run cancelled; the output layers were left as they were")
        else:
            self.status.value = "failed"
            show_error(outcome.message)

    def _succeeded(self, outputs: dict) -> None:
        """Called after a run's output layers were written; nothing to do by default."""

    def _on_finished(self) -> None:
        self._job = None
        if not self._closed:
            self._set_running(False)


class PriorWidget(_DSPWidget):
    """Fit the Deep Segmentation Prior of an image, showing the prior live as it converges."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from .prior import deep_segmentation_prior

        super().__init__(napari_viewer)
        self.iterations = SpinBox(value=50, min=1, max=100_000)
        self.restarts = SpinBox(value=11, min=1, max=1000)
        self.learning_rate = FloatSpinBox(value=0.01, min=1e-5, max=1.0, step=0.001)
        self.seed = SpinBox(value=0, min=0, max=_SEED_MAX)
        self.device = _device_box()
        self._finish_layout(*_with_tips(
            deep_segmentation_prior, iterations=self.iterations, restarts=self.restarts,
            learning_rate=self.learning_rate, seed=self.seed, device=self.device,
        ))

    def parameters(self) -> dict:
        return dict(
            iterations=self.iterations.value, restarts=self.restarts.value,
            learning_rate=self.learning_rate.value, seed=self.seed.value, device=_device(self.device.value),
        )

    def _run(self) -> None:
        from .prior import deep_segmentation_prior

        parameters = self.parameters()
        source, indices = self._source()

        def task(job):
            for number, index in enumerate(indices, 1):
                job.at(PRIOR, index, number)
                job.emit(deep_segmentation_prior(
                    source.plane(index), channel_axis=source.channel_axis, callback=job.callback, **parameters
                ))

        self._launch(task, {PRIOR: OutputLayer(self.viewer, source, PRIOR)}, parameters, indices)


class KMeansWidget(_DSPWidget):
    """Cluster the prior (or any image) with KMeans; re-segments as the parameters change."""

    image_label = "source"
    accepts_priors = True
    DEBOUNCE_MS = 300

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from qtpy.QtCore import QTimer

        from .kmeans import kmeans_segmentation

        super().__init__(napari_viewer)
        self.n_clusters = SpinBox(value=2, min=1, max=256, label="k")
        self.window = SpinBox(value=7, min=1, max=99, step=2)
        self.mode = ComboBox(choices=["kmeans", "foreground/background"], value="kmeans", label="mode")
        self.seed = SpinBox(value=0, min=0, max=_SEED_MAX)
        self.auto_update = CheckBox(text="update automatically", value=True)
        self.mode.tooltip = (
            "kmeans: k classes numbered from dark to bright; foreground/background: "
            "0 = background, 1 = foreground (see napari_dsp.kmeans.foreground_background)."
        )
        self.auto_update.tooltip = "Re-segment whenever k, the window, the mode or the seed changes."
        widgets = _with_tips(
            kmeans_segmentation, n_clusters=self.n_clusters, window=self.window, seed=self.seed
        )
        self._finish_layout(*widgets[:2], self.mode, widgets[2], self.auto_update)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DEBOUNCE_MS)
        self._timer.timeout.connect(self._auto_run)
        self._pending = False
        for widget in (self.n_clusters, self.window, self.mode, self.seed):
            widget.changed.connect(self._parameter_changed)
        self.mode.changed.connect(self._mode_changed)

    def _mode_changed(self, mode: str) -> None:
        self.n_clusters.enabled = mode == "kmeans"

    def _parameter_changed(self, _value=None) -> None:
        if self.auto_update.value and self.image.value is not None:
            self._timer.start()

    def _auto_run(self) -> None:
        if self.running:
            self._pending = True
        else:
            self._run_clicked()

    def _on_finished(self) -> None:
        super()._on_finished()
        if self._pending and not self._closed:
            self._pending = False
            self._run_clicked()

    def parameters(self) -> dict:
        parameters = dict(window=self.window.value, seed=self.seed.value)
        if self.mode.value == "kmeans":
            parameters["n_clusters"] = self.n_clusters.value
        return parameters

    def _run(self) -> None:
        from .kmeans import foreground_background, kmeans_segmentation

        kind = "kmeans" if self.mode.value == "kmeans" else "foreground"
        segment = kmeans_segmentation if kind == "kmeans" else foreground_background
        parameters = self.parameters()
        source, indices = self._source()

        def task(job):
            for number, index in enumerate(indices, 1):
                job.at(kind, index, number)
                job.emit(None, message=f"{kind}: clustering")
                job.emit(segment(source.plane(index), channel_axis=source.channel_axis, **parameters))

        recorded = dict(parameters, mode=self.mode.value, input_layer=self.image.value.name)
        self._launch(task, {kind: OutputLayer(self.viewer, source, kind)}, recorded, indices)


class BackpropWidget(_DSPWidget):
    """Multi-class segmentation by backpropagation, guided by the prior, with scribbles and refinement."""

    KIND = "backprop"
    _AUTO, _RAW, _NONE = "auto", "raw", "none"

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from .backprop import backprop_segmentation

        super().__init__(napari_viewer)
        self.guide = ComboBox(label="guide", choices=self._guide_choices)
        self.scribbles = ComboBox(label="scribbles", choices=self._scribble_choices)
        self.guide.tooltip = (
            "Image the superpixels are computed on: the image's fitted Deep Segmentation Prior "
            "(the paper's method), the raw image (Kanezaki's original method) or any image layer."
        )
        self.scribbles.tooltip = (
            "Labels layer of user strokes, 0 = unlabelled, 1..m = classes; pixels there are "
            "trained towards their class. 'New scribble layer' makes one to paint on."
        )
        self.n_segments = SpinBox(value=1000, min=2, max=1_000_000)
        self.compactness = FloatSpinBox(value=10.0, min=0.01, max=1000.0, step=1.0)
        self.max_iterations = SpinBox(value=1000, min=1, max=100_000)
        self.min_labels = SpinBox(value=3, min=1, max=1000)
        self.seed = SpinBox(value=0, min=0, max=_SEED_MAX)
        self.device = _device_box()
        self.n_features = SpinBox(value=100, min=2, max=1000)
        self.n_conv = SpinBox(value=2, min=1, max=20)
        self.learning_rate = FloatSpinBox(value=0.1, min=1e-5, max=10.0, step=0.01)
        self.warmup = SpinBox(value=100, min=0, max=100_000)
        self.cosine_restarts = CheckBox(value=True)
        self.continuity = FloatSpinBox(value=0.0, min=0.0, max=1000.0, step=0.1)
        self.scale = FloatSpinBox(value=1.0, min=0.05, max=1.0, step=0.05)
        self._main = dict(
            n_segments=self.n_segments, compactness=self.compactness, max_iterations=self.max_iterations,
            min_labels=self.min_labels, seed=self.seed, device=self.device,
        )
        self._advanced = dict(
            n_features=self.n_features, n_conv=self.n_conv, learning_rate=self.learning_rate,
            warmup=self.warmup, cosine_restarts=self.cosine_restarts, continuity=self.continuity,
            scale=self.scale,
        )
        self.show_advanced = CheckBox(text="advanced options", value=False)
        self.show_advanced.tooltip = "Show the network, learning-rate and speed options."
        self.advanced = Container(widgets=_with_tips(backprop_segmentation, **self._advanced), visible=False)
        self.show_advanced.changed.connect(lambda shown: setattr(self.advanced, "visible", shown))
        self.new_scribbles_button = PushButton(text="New scribble layer")
        self.refine_button = PushButton(text="Refine from my edits")
        self.new_scribbles_button.tooltip = "Add an empty Labels layer to paint scribbles on (1, 2, ... = classes)."
        self.refine_button.tooltip = (
            "Re-run with your corrections as scribbles: the chosen scribble layer, or else the strokes "
            "you painted on this image's backprop result since it was computed."
        )
        self.new_scribbles_button.changed.connect(self._new_scribbles_clicked)
        self.refine_button.changed.connect(self._refine_clicked)
        self._last_result = (None, None)
        self._finish_layout(
            self.guide, self.scribbles, *_with_tips(backprop_segmentation, **self._main),
            self.show_advanced, self.advanced,
            Container(widgets=[self.new_scribbles_button, self.refine_button], layout="horizontal"),
        )

    def _guide_choices(self, _widget=None) -> list:
        return [("prior of the image, if fitted", self._AUTO), ("none: the raw image", self._RAW)] + [
            (layer.name, layer) for layer in self.viewer.layers if _layers.is_image(layer)
        ]

    def _scribble_choices(self, _widget=None) -> list:
        from napari.layers import Labels

        return [("none", self._NONE)] + [
            (layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Labels)
        ]

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        self.refine_button.enabled = not running

    def parameters(self) -> dict:
        parameters = {name: widget.value for name, widget in {**self._main, **self._advanced}.items()}
        parameters["device"] = _device(self.device.value)
        return parameters

    def _guide(self, source) -> tuple:
        """The guide array (image-shaped; None for the raw image) and its layer's name."""
        choice = self.guide.value
        if choice == self._RAW:
            return None, "raw image"
        if choice == self._AUTO:
            prior = _layers.find_output(self.viewer, source.name, PRIOR)
            if prior is None:
                show_warning(
                    f"no prior fitted for {source.name!r}: the superpixels come from the raw image. "
                    "Fit one with the Deep Segmentation Prior widget for the paper's method."
                )
                return None, "raw image"
            choice = prior
        return _layers.matching_data(choice, source.data.shape, "guide"), choice.name

    def _edits(self, source) -> np.ndarray:
        """Labels the user painted on the backprop result since the plugin wrote it."""
        layer = _layers.find_output(self.viewer, source.name, self.KIND)
        written_layer, written = self._last_result
        if layer is None or layer != written_layer or written.shape != layer.data.shape:
            raise ValueError(
                f"no backprop result of {source.name!r} from this widget to refine; run it first, "
                "or press 'New scribble layer', paint on it and run"
            )
        data = np.asarray(layer.data)
        edits = np.where(data != written, data, 0).astype(np.int32)
        if not edits.any():
            raise ValueError(
                f"no edits on {layer.name!r}: paint corrections on it (or on a scribble layer) first"
            )
        return edits

    def _refine_clicked(self, _value=None) -> None:
        try:
            source = _layers.image_source(self.image.value)
            self._run(None if self.scribbles.value != self._NONE else self._edits(source))
        except ValueError as exc:
            show_error(str(exc))

    def _new_scribbles_clicked(self, _value=None) -> None:
        try:
            source = _layers.image_source(self.image.value)
        except ValueError as exc:
            show_error(str(exc))
            return
        layer = self.viewer.add_labels(
            np.zeros(source.leading_shape + source.spatial_shape, np.int32), name=f"{source.name} scribbles",
            scale=source.scale, translate=source.translate,
            metadata={_layers.METADATA_KEY: {"kind": _layers.SCRIBBLES, "source": source.name}},
        )
        layer.brush_size = max(3, min(source.spatial_shape) // 40)
        layer.selected_label = 1
        layer.mode = "paint"
        self.scribbles.reset_choices()
        self.scribbles.value = layer

    def _run(self, scribbles=None) -> None:
        from .backprop import backprop_segmentation, estimate_backprop_seconds

        parameters = self.parameters()
        source, indices = self._source()
        guide, guide_name = self._guide(source)
        if scribbles is None and self.scribbles.value != self._NONE:
            scribbles = _layers.matching_data(
                self.scribbles.value, source.leading_shape + source.spatial_shape, "scribbles"
            )
        estimate_options = {k: parameters[k] for k in (
            "n_features", "n_conv", "scale", "max_iterations", "warmup", "continuity", "device")}
        per_slice = " per slice" if len(indices) > 1 else ""

        def task(job):
            job.at(self.KIND, indices[0], 1)
            seconds = estimate_backprop_seconds(
                source.plane(indices[0]).shape, channel_axis=source.channel_axis, **estimate_options
            )
            job.emit(None, message=f"estimated time: at most {seconds:.0f} s{per_slice}")
            for number, index in enumerate(indices, 1):
                job.at(self.KIND, index, number)
                job.emit(backprop_segmentation(
                    source.plane(index), channel_axis=source.channel_axis, callback=job.callback,
                    guide=None if guide is None else np.asarray(guide[index]),
                    scribbles=None if scribbles is None else np.asarray(scribbles[index]),
                    **parameters,
                ))

        recorded = dict(parameters, guide=guide_name, scribbles=scribbles is not None)
        self._launch(task, {self.KIND: OutputLayer(self.viewer, source, self.KIND)}, recorded, indices)

    def _succeeded(self, outputs: dict) -> None:
        layer = outputs[self.KIND].layer
        self._last_result = (layer, np.array(layer.data, copy=True))


class SegmentWidget(_DSPWidget):
    """One click: fit the prior and segment it (`napari_dsp.pipeline.segment`), showing both layers."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from .backprop import backprop_segmentation
        from .pipeline import METHODS, segment

        super().__init__(napari_viewer)
        self.method = ComboBox(choices=METHODS, value="kmeans", label="method")
        self.method.tooltip = (
            "kmeans: k classes by window KMeans on the prior; foreground: foreground/background; "
            "backprop: an unknown number of classes by self-training a CNN guided by the prior."
        )
        self.n_clusters = SpinBox(value=2, min=1, max=256, label="k")
        self.max_iterations = SpinBox(value=1000, min=1, max=100_000, enabled=False)
        self.iterations = SpinBox(value=0, min=0, max=100_000)
        self.restarts = SpinBox(value=0, min=0, max=1000)
        for box in (self.iterations, self.restarts):
            box.native.setSpecialValueText("paper's value")
        self.seed = SpinBox(value=0, min=0, max=_SEED_MAX)
        self.device = _device_box()
        self.method.changed.connect(self._method_changed)
        self._finish_layout(
            self.method,
            *_with_tips(segment, n_clusters=self.n_clusters),
            *_with_tips(backprop_segmentation, max_iterations=self.max_iterations),
            *_with_tips(segment, iterations=self.iterations, restarts=self.restarts, seed=self.seed,
                        device=self.device),
        )

    def _method_changed(self, method: str) -> None:
        self.n_clusters.enabled = method == "kmeans"
        self.max_iterations.enabled = method == "backprop"

    def parameters(self) -> dict:
        parameters = dict(
            method=self.method.value, iterations=self.iterations.value or None,
            restarts=self.restarts.value or None, seed=self.seed.value, device=_device(self.device.value),
        )
        if self.method.value == "kmeans":
            parameters["n_clusters"] = self.n_clusters.value
        if self.method.value == "backprop":
            parameters["backprop_options"] = {"max_iterations": self.max_iterations.value}
        return parameters

    def _run(self) -> None:
        from .pipeline import segment

        parameters = self.parameters()
        method = parameters["method"]
        source, indices = self._source()

        def task(job):
            for number, index in enumerate(indices, 1):
                job.at(method, index, number)
                result = segment(source.plane(index), channel_axis=source.channel_axis, callback=job.callback,
                                 **parameters)
                job.emit(result.prior, kind=PRIOR)
                job.emit(result.labels)

        outputs = {kind: OutputLayer(self.viewer, source, kind) for kind in (PRIOR, method)}
        self._launch(task, outputs, parameters, indices, stages={"prior": PRIOR, "backprop": "backprop"})


class SpectrumWidget(_ImageWidget):
    """Azimuthally averaged power spectra of an image, its prior and a low-pass baseline (paper 3.3)."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        super().__init__(napari_viewer)
        self.refresh_button = PushButton(text="Refresh")
        self.refresh_button.tooltip = "Redraw, e.g. after fitting the prior or moving to another slice."
        self.note = Label(value="")
        self.figure = Figure(figsize=(4, 3), layout="constrained")
        self.axes = self.figure.add_subplot()
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.extend([self.image, self.refresh_button, self.note])
        self.native.layout().addWidget(self.canvas)
        self.refresh_button.changed.connect(self.draw)
        self._follow_selection()
        self.draw()

    def _show_image(self, layer) -> None:
        self.draw()

    def draw(self, _value=None) -> None:
        """Plot the spectra of the chosen image's displayed slice and of its prior, if fitted."""
        from .figures import draw_spectrum
        from .spectrum import compare_spectra

        try:
            source = _layers.image_source(self.image.value)
        except ValueError as exc:
            self.axes.clear()
            self.note.value = str(exc)
            self.canvas.draw_idle()
            return
        index = _layers.current_index(self.viewer, source, self.image.value)
        prior_layer = _layers.find_output(self.viewer, source.name, PRIOR)
        prior = None if prior_layer is None else np.asarray(prior_layer.data[index])
        if prior is not None and (prior.shape != source.plane(index).shape or not prior.any()):
            prior = None
        draw_spectrum(self.axes, compare_spectra(source.plane(index), prior, channel_axis=source.channel_axis))
        self.note.value = f"{source.name}" + ("" if prior is not None else " (no prior fitted yet)")
        self.canvas.draw_idle()
