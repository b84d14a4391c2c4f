"""The Backprop dock widget: multi-class segmentation guided by the prior, with scribbles and refinement."""

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton
from napari.utils.notifications import show_error, show_warning

from . import _layers
from ._base import (
    DSPWidget, device_argument, device_box, duration, parameter_boxes, precision_box, preset_box, seed_box,
    set_boxes,
)
from ._layers import PRIOR

if TYPE_CHECKING:
    import napari


class BackpropWidget(DSPWidget):
    """Multi-class segmentation by backpropagation, guided by the prior, with scribbles and refinement."""

    KIND = "backprop"
    _AUTO, _RAW, _NONE = "auto", "raw", "none"

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from ..backprop import backprop_segmentation
        from ..recipes import get_preset

        super().__init__(napari_viewer)
        self.preset = preset_box()
        recipe = get_preset(self.preset.value).backprop
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
        self._main = parameter_boxes(
            backprop_segmentation, recipe, n_segments=(2, 1_000_000), compactness=(0.01, 1000.0, 1.0),
            max_iterations=(1, 100_000), min_labels=(1, 1000),
        )
        self.seed = seed_box(backprop_segmentation)
        self.device = device_box(backprop_segmentation)
        self._advanced = parameter_boxes(
            backprop_segmentation, recipe, n_features=(2, 1000), n_conv=(1, 20), learning_rate=(1e-5, 10.0, 0.01),
            warmup=(0, 100_000), cosine_annealing=None, continuity=(0.0, 1000.0, 0.1), scale=(0.05, 1.0, 0.05),
        )
        self._advanced["precision"] = precision_box(backprop_segmentation, recipe)
        for name, box in {**self._main, **self._advanced}.items():
            setattr(self, name, box)
        self.preset.changed.connect(
            lambda name: set_boxes([*self._main.values(), *self._advanced.values()], get_preset(name).backprop)
        )
        self.show_advanced = CheckBox(text="advanced options", value=False)
        self.show_advanced.tooltip = "Show the network, learning-rate and speed options."
        self.advanced = Container(widgets=list(self._advanced.values()), visible=False)
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
            self.guide, self.scribbles, self.preset, *self._main.values(), self.seed, self.device,
            self.show_advanced, self.advanced,
            self.new_scribbles_button, self.refine_button,
        )

    def _guide_choices(self, _widget=None) -> list:
        return [("prior, if fitted", self._AUTO), ("raw image", self._RAW)] + [
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
        return dict(parameters, preset=self.preset.value, seed=self.seed.value,
                    device=device_argument(self.device.value))

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
        shapes = {tuple(source.data.shape), source.prior_shape}
        shape = tuple(choice.data.shape) if tuple(choice.data.shape) in shapes else source.prior_shape
        return _layers.matching_data(choice, shape, "guide"), choice.name

    def _edits(self, source) -> np.ndarray:
        """Labels the user painted on the backprop result since the plugin wrote it."""
        layer, written = self._last_result
        if (layer is None or layer not in self.viewer.layers or _layers.source_name(layer) != source.name
                or written.shape != layer.data.shape):
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
            source = _layers.image_source(self.image.value, channel_axis=self._channel())
            self._run(None if self.scribbles.value != self._NONE else self._edits(source))
        except ValueError as exc:
            show_error(str(exc))

    def _new_scribbles_clicked(self, _value=None) -> None:
        try:
            source = _layers.image_source(self.image.value, channel_axis=self._channel())
        except ValueError as exc:
            show_error(str(exc))
            return
        layer = self.viewer.add_labels(
            np.zeros(source.labels_shape, np.int32), name=f"{source.name} scribbles",
            scale=source.without_channels(source.scale), translate=source.without_channels(source.translate),
        )
        layer.brush_size = max(3, min(source.spatial_shape) // 40)
        layer.selected_label = 1
        layer.mode = "paint"
        self.scribbles.reset_choices()
        self.scribbles.value = layer

    def _run(self, scribbles=None) -> None:
        from ..backprop import backprop_segmentation, estimate_backprop_seconds

        parameters = self.parameters()
        taken = source, indices = self._source()
        guide, guide_name = self._guide(source)
        if scribbles is None and self.scribbles.value != self._NONE:
            scribbles = _layers.matching_data(
                self.scribbles.value, source.labels_shape, "scribbles"
            )
        estimate_options = {k: parameters[k] for k in (
            "n_features", "n_conv", "scale", "max_iterations", "warmup", "continuity", "precision", "device")}

        def estimate(job, source, indices):
            job.at(self.KIND, indices[0], 1)
            seconds = estimate_backprop_seconds(
                source.plane(indices[0]).shape, channel_axis=source.plane_channel_axis, **estimate_options
            )
            job.emit(None, message=f"estimated time: {duration(seconds, len(indices))} of training, plus superpixels")

        def compute(job, plane, channel_axis, index):
            return backprop_segmentation(
                plane, channel_axis=channel_axis, callback=job.callback,
                guide=None if guide is None else source.plane(index, guide),
                scribbles=None if scribbles is None else np.asarray(scribbles[index]),
                **parameters,
            )

        recorded = dict(parameters, guide=guide_name, scribbles=scribbles is not None)
        self._launch_per_plane(self.KIND, compute, recorded, before=estimate, source=taken)

    def _succeeded(self, outputs: dict) -> None:
        layer = outputs[self.KIND].layer
        self._last_result = (layer, np.array(layer.data, copy=True))
