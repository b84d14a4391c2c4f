"""What every dock widget shares: the image choice, Run/Cancel, progress, and parameter boxes.

Widgets only map layers and parameters to the library functions; the work
runs in thread workers (`_workers`) and the results go into the plugin's own
output layers (`_layers`). Each widget lives in a module of its own.
"""

import inspect
import time
from functools import partial
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox, ComboBox, Container, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox,
)
from napari.utils.notifications import show_error, show_info

from . import _layers, _workers

if TYPE_CHECKING:
    import napari

_DEVICES = ["auto", "cpu", "cuda", "mps"]
_SEED_MAX = 2**31 - 1


def tooltips(func) -> dict:
    """Parameter descriptions of `func`'s numpydoc docstring, by parameter name."""
    from docstring_parser import parse

    tips = {}
    for param in parse(func.__doc__ or "").params:
        for name in param.arg_name.split(","):
            tips[name.strip()] = " ".join((param.description or "").split())
    return tips


def parameter_boxes(func, **limits) -> dict:
    """One input box per parameter of `func`, holding its default and its docstring as tooltip.

    The defaults come from `func`'s signature (which reads them from
    `napari_dsp.recipes`), so a widget never holds a number of its own.

    Parameters
    ----------
    func : callable
        The library function whose parameters the boxes set.
    **limits
        For each parameter, ``(min, max)`` or ``(min, max, step)`` of its box;
        ``None`` for a checkbox.

    Returns
    -------
    dict
        Parameter name -> magicgui widget, in the order given.
    """
    signature = inspect.signature(func).parameters
    tips = tooltips(func)
    boxes = {}
    for name, limit in limits.items():
        default = signature[name].default
        if isinstance(default, bool):
            box = CheckBox(value=default)
        elif isinstance(default, int):
            box = SpinBox(value=default, min=limit[0], max=limit[1])
        else:
            box = FloatSpinBox(value=default, min=limit[0], max=limit[1], step=limit[2] if len(limit) > 2 else 0.1)
        box.name = name
        box.tooltip = tips.get(name, "")
        boxes[name] = box
    return boxes


def seed_box(func) -> SpinBox:
    """The seed of `func`, as a box starting at 0 so that runs repeat unless the user changes it."""
    box = SpinBox(value=0, min=0, max=_SEED_MAX, name="seed")
    box.tooltip = tooltips(func).get("seed", "")
    return box


def device_box(func) -> ComboBox:
    """Device choice for `func`, with the devices this machine lacks shown but disabled."""
    from .._device import available_devices

    box = ComboBox(choices=_DEVICES, value="auto", name="device")
    box.tooltip = tooltips(func).get("device", "")
    available = set(available_devices()) | {"auto"}
    model = box.native.model()
    for row, name in enumerate(_DEVICES):
        model.item(row).setEnabled(name in available)
    return box


def device_argument(value: str):
    """The device argument for the library, checked here so a missing GPU is a clear error."""
    from .._device import resolve_device

    return None if value == "auto" else str(resolve_device(value))


class ImageWidget(Container):
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


class DSPWidget(ImageWidget):
    """An `ImageWidget` with Run/Cancel, a progress bar and a status line, running its work in a worker.

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

    def _launch_per_plane(self, kind: str, compute, parameters: dict, *, kinds=None, stages=None,
                          before=None, source=None) -> None:
        """Run ``compute(job, plane, channel_axis, index)`` in a worker on every plane of the chosen image.

        `compute` returns the plane of output `kind`, or a dict of output kind
        -> plane; the results go into the plugin's output layers of `kinds`
        (default: just `kind`). ``before(job, source, indices)``, if given,
        runs first on the worker thread. `source` is ``self._source()`` where
        the caller took it already.
        """
        source, indices = self._source() if source is None else source
        kinds = kinds or (kind,)

        def task(job):
            if before is not None:
                before(job, source, indices)
            for number, index in enumerate(indices, 1):
                job.at(kind, index, number)
                result = compute(job, source.plane(index), source.channel_axis, index)
                for output_kind, plane in (result.items() if isinstance(result, dict) else [(kind, result)]):
                    job.emit(plane, kind=output_kind)

        outputs = {name: _layers.OutputLayer(self.viewer, source, name) for name in kinds}
        self._launch(task, outputs, parameters, indices, stages)

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


