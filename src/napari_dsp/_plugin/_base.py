"""What every dock widget shares: the image choice, Run/Cancel, progress, and parameter boxes.

Widgets only map layers and parameters to the library functions; the work
runs in thread workers (`_workers`) and the results go into the plugin's own
output layers (`_layers`). Each widget lives in a module of its own.
"""

import inspect
import time
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox, ComboBox, Container, FloatSpinBox, Label, ProgressBar, PushButton, SpinBox,
)
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtWidgets import QFrame, QScrollArea

from . import _layers, _workers
from ._settings import Settings

if TYPE_CHECKING:
    import napari

_SEED_MAX = 2**31 - 1
_NO_CHANNELS = "none"


def tooltips(func) -> dict:
    """Parameter descriptions of `func`'s numpydoc docstring, by parameter name."""
    from docstring_parser import parse

    tips = {}
    for param in parse(func.__doc__ or "").params:
        for name in param.arg_name.split(","):
            tips[name.strip()] = " ".join((param.description or "").split())
    return tips


def parameter_boxes(func, defaults=None, **limits) -> dict:
    """One input box per parameter of `func`, holding its default and its docstring as tooltip.

    The defaults come from `func`'s signature (which reads them from
    `napari_dsp.recipes`), or from `defaults` where the signature says None
    (a preset's value), so a widget never holds a number of its own.

    Parameters
    ----------
    func : callable
        The library function whose parameters the boxes set.
    defaults : object, optional
        A recipe (`napari_dsp.recipes`) with an attribute per parameter
        whose default in the signature is None.
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
        if default is None:
            default = getattr(defaults, name)
        label = name.replace("_", " ")
        if isinstance(default, bool):
            box = CheckBox(value=default, text=label, name=name)
        elif isinstance(default, int):
            box = SpinBox(value=default, min=limit[0], max=limit[1], name=name, label=label)
        else:
            step = limit[2] if len(limit) > 2 else 0.1
            box = FloatSpinBox(value=default, min=limit[0], max=limit[1], step=step, name=name, label=label)
        box.tooltip = tips.get(name, "")
        boxes[name] = box
    return boxes


def preset_box() -> ComboBox:
    """Choice of the preset (`napari_dsp.recipes.PRESETS`) that sets a widget's prior boxes; "fast" first."""
    from ..recipes import PRESETS

    box = ComboBox(choices=list(PRESETS), value="fast", name="preset", label="preset")
    box.tooltip = (
        "Sets the prior's boxes below. 'fast' is for interactive use; 'paper' reproduces the paper. "
        + " ".join(f"{name}: {recipe.description}." for name, recipe in PRESETS.items())
    )
    return box


def set_boxes(boxes, recipe) -> None:
    """Put `recipe`'s value of each box's parameter into the box."""
    for box in boxes:
        box.value = getattr(recipe, box.name)


def seed_box(func) -> SpinBox:
    """The seed of `func`, as a box starting at 0 so that runs repeat unless the user changes it."""
    box = SpinBox(value=0, min=0, max=_SEED_MAX, name="seed")
    box.tooltip = tooltips(func).get("seed", "")
    return box


def device_box(func) -> ComboBox:
    """Device choice for `func`, with the devices this machine lacks shown but disabled.

    With several GPUs, each has an entry of its own (``cuda:0``, ``cuda:1``, ...).
    """
    import torch

    from .._device import available_devices

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = ["auto", "cpu", "cuda", *(f"cuda:{i}" for i in range(n_gpus if n_gpus > 1 else 0)), "mps"]
    box = ComboBox(choices=devices, value="auto", name="device")
    box.tooltip = tooltips(func).get("device", "") + " cuda:N picks one of several GPUs."
    available = set(available_devices()) | {"auto"}
    model = box.native.model()
    for row, name in enumerate(devices):
        model.item(row).setEnabled(name.split(":")[0] in available)
    return box


def precision_box(func, defaults=None) -> ComboBox:
    """The arithmetic (`napari_dsp.recipes.PRECISIONS`) of `func`'s networks, starting at its default.

    The default is `func`'s, or `defaults.precision` where the signature says
    None (a preset's value), as in `parameter_boxes`.
    """
    from ..recipes import PRECISIONS

    default = inspect.signature(func).parameters["precision"].default
    if default is None:
        default = defaults.precision
    box = ComboBox(choices=list(PRECISIONS), value=default, name="precision")
    box.tooltip = tooltips(func).get("precision", "")
    return box


def prior_seconds(shape, channel_axis, parameters: dict) -> float:
    """`napari_dsp.prior.estimate_prior`'s seconds for the prior settings in a widget's `parameters`."""
    from ..pipeline import PRIOR_SETTINGS
    from ..prior import estimate_prior

    options = {k: parameters[k] for k in ("preset", *PRIOR_SETTINGS, "device")}
    return estimate_prior(shape, channel_axis=channel_axis, **options).seconds


def duration(seconds: float, planes: int = 1) -> str:
    """A time estimate as the widgets word it; `seconds` is per plane, of `planes` to run."""
    text = f"about {seconds:.0f} s" if seconds >= 1 else "under a second"
    return f"{text} per slice" if planes > 1 else text


def device_argument(value: str):
    """The device argument for the library, checked here so a missing GPU is a clear error."""
    from .._device import resolve_device

    return None if value == "auto" else str(resolve_device(value))


class _FormScrollArea(QScrollArea):
    """A scroll area asking for its minimum only: napari sizes a new window by its docks' size hints."""

    def __init__(self, min_height: int):
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(min_height)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), self.minimumHeight())


class _ParentWatcher(QObject):
    """Calls `on_removed` when its widget loses its parent: napari's `remove_dock_widget` (a dock's x) does that."""

    def __init__(self, on_removed):
        super().__init__()
        self._on_removed = on_removed

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.ParentChange and watched.parent() is None:
            self._on_removed()
        return False


class ImageWidget(Container):
    """A widget working on one image layer, chosen in a box that follows the viewer's selection.

    The box follows the active layer until the user picks a different layer
    in it; picking the active layer again resumes following. The choices sit
    in `form`, a scroll area, so that a tall dock never pushes the window
    off the screen.
    """

    image_label = "image"
    accepts_priors = False

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__(labels=False)
        self.viewer = napari_viewer
        self.form = Container(labels=True)
        self.image = ComboBox(label=self.image_label, choices=self._image_choices)
        self.image.tooltip = "Image layer to work on; follows the layer selected in the layer list."
        self._following = True
        self._setting_image = False
        self.image.changed.connect(self._image_chosen)
        napari_viewer.layers.selection.events.active.connect(self._follow_selection)
        self._closed = False
        self._parent_watcher = _ParentWatcher(self._dock_closed)
        self.native.installEventFilter(self._parent_watcher)
        self.native.destroyed.connect(self._stop)  # closing the viewer

    def _dock_closed(self) -> None:
        self.native.removeEventFilter(self._parent_watcher)
        self._stop()

    def _stop(self, *_args) -> None:
        """The dock was closed or deleted: stop following the viewer."""
        if not self._closed:
            self._closed = True
            self.viewer.layers.selection.events.active.disconnect(self._follow_selection)

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

    def _lay_out(self, *widgets) -> None:
        """`form`, then `widgets` below it (always in view)."""
        self.margins = (0, 0, 0, 0)
        self.native.layout().setSpacing(2)
        self.extend([self.form, *widgets])
        # a scroll area around the form (magicgui's `scrollable` is lost when a container is nested)
        scroll_area = _FormScrollArea(2 * self.image.native.sizeHint().height())
        self.native.layout().removeWidget(self.form.native)
        scroll_area.setWidget(self.form.native)
        self.native.layout().insertWidget(0, scroll_area)

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
    implement `_run`, which validates and calls `_launch_per_plane` or `_launch`.
    A run owns its output layers until it ends; closing the dock or deleting
    the input layer stops it.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        super().__init__(napari_viewer)
        self.channel_axis = ComboBox(label="channel axis", choices=self._channel_choices, visible=False)
        self.channel_axis.tooltip = (
            "Axis of a multichannel image (e.g. 2-5 fluorescence channels) whose channels are segmented "
            "together as one image; 'none' treats every channel as a separate slice. Starts at an axis "
            "labelled 'c' or 'channel'. RGB(A) images always use their colours (alpha is ignored)."
        )
        self.all_slices = CheckBox(text="all slices", value=False, visible=False)
        self.all_slices.tooltip = (
            "For a stack (time, z): segment every 2-D slice; off segments the slice on screen."
        )
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(value=0, min=0, max=1, label="progress")
        self.status = Label(value="")
        self.note = Label(value="", visible=False)  # shown when it has something to say
        self.note.changed.connect(lambda text: setattr(self.note, "visible", bool(text)))
        self._job = None
        self.activity = None  # the run's entry in napari's Activity dock
        self._input = None
        self._input_deleted = False
        self._kept = ""
        self.channel_axis.changed.connect(self._show_slices)
        self.run_button.changed.connect(self._run_clicked)
        self.cancel_button.changed.connect(self._cancel_clicked)

    def _finish_layout(self, *widgets) -> None:
        buttons = Container(widgets=[self.run_button, self.cancel_button], layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        self.restore_button = PushButton(text="Restore defaults")
        self.restore_button.tooltip = "Put every setting of this widget back to its default (settings are remembered)."
        self._settings = Settings(type(self).__name__, widgets)
        self.restore_button.changed.connect(self._settings.restore_defaults)
        self.form.extend([self.image, self.channel_axis, *widgets, self.all_slices, self.restore_button])
        self._lay_out(buttons, self.progress, self.status, self.note)
        self._follow_selection()
        self._show_image(self.image.value)

    def _channel_choices(self, _widget=None) -> list:
        layer = self.image.value
        choices = [("none", _NO_CHANNELS)]
        if layer is not None and not layer.rgb and layer.ndim > 2:
            names = layer.axis_labels
            choices += [(f"axis {a}: {names[a]} ({n})", a) for a, n in enumerate(layer.data.shape)]
        return choices

    def _channel(self):
        value = self.channel_axis.value
        return None if value == _NO_CHANNELS or self.image.value is None or self.image.value.rgb else value

    def _show_image(self, layer) -> None:
        self.channel_axis.reset_choices()
        guess = _layers.channel_axis_guess(self.viewer, layer)
        self.channel_axis.value = _NO_CHANNELS if guess is None else guess
        self.channel_axis.visible = layer is not None and not layer.rgb and layer.ndim > 2
        self._show_slices()

    def _show_slices(self, _value=None) -> None:
        layer = self.image.value
        channels = layer is not None and (layer.rgb or self._channel() is not None)
        self.all_slices.visible = layer is not None and layer.ndim - channels > 2

    @property
    def running(self) -> bool:
        return self._job is not None

    def _run_clicked(self, _value=None) -> None:
        try:
            self._run()
        except ValueError as exc:
            show_error(str(exc))

    def _stop(self, *_args) -> None:
        super()._stop()
        if self._job is not None:
            self._job.cancel()

    def _cancel_clicked(self, _value=None) -> None:
        if self._job is not None:
            self._job.cancel()
            self.status.value = "cancelling..."

    def _source(self):
        source = _layers.image_source(self.image.value, channel_axis=self._channel())
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
                plane = source.plane(index)
                if plane.size and np.all(plane == plane[0, 0]):
                    where = f" (slice {index})" if index else ""
                    job.emit(None, warning=f"napari-dsp: {source.name!r}{where} is constant: there is nothing "
                                           "to segment, its labels are arbitrary")
                result = compute(job, plane, source.plane_channel_axis, index)
                for output_kind, output in (result.items() if isinstance(result, dict) else [(kind, result)]):
                    job.emit(output, kind=output_kind)

        outputs = {name: _layers.OutputLayer(self.viewer, source, name) for name in kinds}
        self._launch(task, outputs, dict(parameters, channel_axis=source.channel_axis), indices, stages)

    def _launch(self, task, outputs: dict, parameters: dict, indices: list, stages=None) -> None:
        """Run `task` in a worker; its planes go to `outputs` (kind -> OutputLayer)."""
        from napari.utils import progress

        self._job = _workers.Job(len(indices), stages)
        self.activity = progress(total=0, desc=f"napari-dsp: {self.image.value.name}")
        self._set_running(True)
        self.progress.max, self.progress.value = 1, 0
        self.status.value = "starting..."
        kept = [output.kept for output in outputs.values() if output.kept]
        self._kept = f"{'; '.join(kept)}: the result goes to a new layer" if kept else ""
        self.note.value = self._kept
        if kept:
            show_info(f"napari-dsp: {self._kept}")
        self._input, self._input_deleted = self.image.value, False
        self.viewer.layers.events.removed.connect(self._layer_removed)
        _workers.start(
            task, self._job,
            on_update=partial(self._on_update, outputs),
            on_outcome=partial(self._on_outcome, outputs, parameters, indices, time.monotonic()),
            on_finished=partial(self._on_finished, outputs),
        )

    def _layer_removed(self, event) -> None:
        if event.value == self._input and self._job is not None:
            self._input_deleted = True
            self._job.cancel()

    def _set_running(self, running: bool) -> None:
        self.run_button.enabled = not running
        self.cancel_button.enabled = running

    def _on_update(self, outputs: dict, update: _workers.Update) -> None:
        if update.plane is not None and not self._input_deleted:
            outputs[update.kind].write(update.index, update.plane)
        if update.warning:
            show_warning(update.warning)
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
            self._report_activity()
        elif update.n_slices > 1:
            self.progress.max, self.progress.value = update.n_slices, done + (update.plane is not None)
            self._report_activity()
        if update.status:
            self.status.value = update.status + where
        if update.message:
            self.note.value = "\n".join(filter(None, [self._kept, update.message + where]))

    def _report_activity(self) -> None:
        """Mirror the progress bar in napari's Activity dock."""
        if self.activity.total != self.progress.max:
            self.activity.total = self.progress.max
        if self.progress.value > self.activity.n:
            self.activity.update(self.progress.value - self.activity.n)

    def _on_outcome(self, outputs, parameters, indices, started, outcome: _workers.Outcome) -> None:
        if outcome.status == "done" and not self._input_deleted:
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
        if self._input_deleted:
            show_warning(
                f"napari-dsp: the input layer {self._input.name!r} was deleted, so the run stopped and its "
                "output layers were left as they were"
            )
        if self._closed:
            return
        if self._input_deleted:
            self.status.value = "stopped: input layer deleted"
        elif outcome.status == "cancelled":
            self.status.value = "cancelled"
            show_info("napari-dsp: run cancelled; the output layers were left as they were")
        else:
            self.status.value = "failed"
            show_error(outcome.message)

    def _succeeded(self, outputs: dict) -> None:
        """Called after a run's output layers were written; nothing to do by default."""

    def _on_finished(self, outputs: dict) -> None:
        for output in outputs.values():
            output.release()
        self.viewer.layers.events.removed.disconnect(self._layer_removed)
        self.activity.close()
        self._job = self._input = self.activity = None
        if not self._closed:
            self._set_running(False)
