"""The one-click Segment dock widget: fit the prior and segment it."""

import hashlib
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox

from ._base import (
    DSPWidget, device_argument, device_box, duration, parameter_boxes, precision_box, preset_box, prior_seconds,
    seed_box, set_boxes,
)
from ._layers import PRIOR, SALIENCY

if TYPE_CHECKING:
    import napari

# Methods whose result comes with a saliency map, shown as an Image layer of its own.
_WITH_SALIENCY = ("foreground", "doubledip")


def _prior_key(plane, channel_axis, parameters: dict) -> tuple:
    """What the prior of `plane` depends on: its pixels and the prior settings in `parameters`."""
    from ..pipeline import PRIOR_SETTINGS, prior_recipe
    from ..recipes import get_preset

    digest = hashlib.blake2b(np.ascontiguousarray(plane).data).hexdigest()
    settings = tuple(parameters[name] for name in (*PRIOR_SETTINGS, "seed", "device"))
    recipe = prior_recipe(parameters["method"], get_preset(parameters["preset"]))
    return (digest, plane.shape, plane.dtype.str, channel_axis, recipe, *settings)


class SegmentWidget(DSPWidget):
    """One click: fit the prior and segment it (`napari_dsp.pipeline.segment`), showing both layers."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from ..backprop import backprop_segmentation
        from ..pipeline import METHODS, prior_recipe, segment
        from ..regions import region_segmentation

        super().__init__(napari_viewer)
        self.method = ComboBox(choices=METHODS, value="kmeans", label="method", name="method")
        self.method.tooltip = (
            "kmeans: k classes by window KMeans on the prior; foreground: the object on the background, by "
            "saliency of the prior and a graph cut (the best measured foreground; also adds a saliency layer); "
            "regions: regions merged on the image (measured better than on the prior), their number found per "
            "image; kmeans-foreground: the "
            "paper's 2-class KMeans split; backprop: an unknown number of classes by self-training a CNN guided "
            "by the prior; doubledip: the Double-DIP baseline (slow)."
        )
        self.n_clusters = parameter_boxes(segment, n_clusters=(1, 256))["n_clusters"]
        self.n_clusters.label = "k"
        self.center_sigma = parameter_boxes(segment, center_sigma=(0.0, 10.0, 0.05))["center_sigma"]
        self.center_sigma.label = "centre prior"
        self.center_sigma.native.setSpecialValueText("off")
        self.preset = preset_box()
        self._backprop = parameter_boxes(
            backprop_segmentation, self._recipe().backprop,
            max_iterations=(1, 100_000), warmup=(0, 100_000), scale=(0.05, 1.0, 0.05),
        )
        self.max_iterations, self.warmup, self.scale = self._backprop.values()
        self._regions = parameter_boxes(region_segmentation, threshold=(0.1, 10_000, 1),
                                        min_size=(0.0, 0.5, 0.0001))
        self.threshold, self.min_size = self._regions.values()
        self.threshold.label, self.min_size.label = "merge threshold", "smallest region"
        # Off by default, unlike segment(fit_prior=True): in napari the point is a result in a second.
        self.fit_prior = CheckBox(value=False, text="fit the prior too", name="fit_prior")
        self.fit_prior.tooltip = (
            "Regions are merged on the image, which measured better than the prior, so they do not need it: "
            "left off, regions come in about a second. Tick it to fit the prior as well, to compare. The other "
            "methods always fit the prior."
        )
        self._prior = parameter_boxes(
            segment, prior_recipe(self.method.value, self._recipe()),
            iterations=(1, 100_000), restarts=(1, 1000), max_size=(0, 100_000),
        )
        self.iterations, self.restarts, self.max_size = self._prior.values()
        self.max_size.native.setSpecialValueText("full resolution")
        self.precision = precision_box(segment)
        self.precision.label = "prior precision"  # backprop's own runs in its preset's precision
        self.seed = seed_box(segment)
        self.device = device_box(segment)
        self.method.changed.connect(self._method_changed)
        self.preset.changed.connect(self._preset_chosen)
        self.fit_prior.changed.connect(self._enable_boxes)
        self._enable_boxes()
        # (key, prior) of the last plane segmented: a rerun with other segmentation options, the usual
        # tuning loop, reuses the prior instead of fitting it again. One plane, to bound the memory.
        self._last_prior = (None, None)
        self._finish_layout(self.method, self.n_clusters, self.center_sigma, *self._backprop.values(),
                            *self._regions.values(), self.fit_prior, self.preset, *self._prior.values(),
                            self.precision, self.seed, self.device)

    def _recipe(self):
        from ..recipes import get_preset

        return get_preset(self.preset.value)

    def _fits_prior(self) -> bool:
        return self.method.value != "regions" or self.fit_prior.value

    def _enable_boxes(self, _value=None) -> None:
        self.n_clusters.enabled = self.method.value == "kmeans"
        self.center_sigma.enabled = self.method.value == "foreground"
        for box in self._backprop.values():
            box.enabled = self.method.value == "backprop"
        for box in self._regions.values():
            box.enabled = self.method.value == "regions"
        self.fit_prior.visible = self.method.value == "regions"
        for box in (*self._prior.values(), self.precision):
            box.enabled = self._fits_prior()

    def _method_changed(self, _value=None) -> None:
        from ..pipeline import prior_recipe

        self._enable_boxes()
        set_boxes(self._prior.values(), prior_recipe(self.method.value, self._recipe()))

    def _preset_chosen(self, _value=None) -> None:
        self._method_changed()
        set_boxes(self._backprop.values(), self._recipe().backprop)

    def parameters(self) -> dict:
        parameters = dict(method=self.method.value, preset=self.preset.value, seed=self.seed.value,
                          device=device_argument(self.device.value))
        if self._fits_prior():
            parameters.update((name, box.value) for name, box in self._prior.items())
            parameters["precision"] = self.precision.value
        else:
            parameters["fit_prior"] = False
        if self.method.value == "kmeans":
            parameters["n_clusters"] = self.n_clusters.value
        if self.method.value == "foreground":
            parameters["center_sigma"] = self.center_sigma.value
        if self.method.value == "backprop":
            parameters["backprop_options"] = {name: box.value for name, box in self._backprop.items()}
        if self.method.value == "regions":
            parameters["region_options"] = {name: box.value for name, box in self._regions.items()}
        return parameters

    def _run(self) -> None:
        from ..backprop import estimate_backprop_seconds
        from ..pipeline import segment

        parameters = self.parameters()
        method = parameters["method"]
        fits_prior = parameters.get("fit_prior", True)

        def estimate(job, source, indices):
            job.at(method, indices[0], 1)
            plane, channel_axis = source.plane(indices[0]), source.plane_channel_axis
            reused = (fits_prior and len(indices) == 1
                      and self._last_prior[0] == _prior_key(plane, channel_axis, parameters))
            seconds = 0.0
            if fits_prior and not reused:
                seconds = prior_seconds(plane.shape, channel_axis, parameters)
            if method == "backprop":
                seconds += estimate_backprop_seconds(
                    plane.shape, channel_axis=channel_axis, device=parameters["device"],
                    **parameters["backprop_options"],
                )
            reuse = "; the prior of the last run is reused (same image and prior settings)" if reused else ""
            job.emit(None, message=f"estimated time: {duration(seconds, len(indices))}{reuse}")

        kinds = (SALIENCY, method) if method in _WITH_SALIENCY else (method,)
        kinds = (PRIOR, *kinds) if fits_prior else kinds

        def compute(job, plane, channel_axis, _index):
            if not fits_prior:
                return segment(plane, channel_axis=channel_axis, **parameters).labels
            key = _prior_key(plane, channel_axis, parameters)
            known, prior = self._last_prior
            result = segment(plane, channel_axis=channel_axis, callback=job.callback,
                             prior=prior if known == key else None, **parameters)
            self._last_prior = (key, result.prior)
            planes = {PRIOR: result.prior, method: result.labels}
            if result.saliency is not None:
                planes[SALIENCY] = result.saliency
            return planes

        self._launch_per_plane(method, compute, parameters, kinds=kinds, before=estimate,
                               stages={"prior": PRIOR, "backprop": "backprop"})
