"""The Deep Segmentation Prior dock widget: fit the prior, watching it converge."""

from typing import TYPE_CHECKING

from ._base import (
    DSPWidget, device_argument, device_box, duration, parameter_boxes, precision_box, preset_box, prior_seconds,
    seed_box, set_boxes,
)
from ._layers import PRIOR

if TYPE_CHECKING:
    import napari


class PriorWidget(DSPWidget):
    """Fit the Deep Segmentation Prior of an image, showing the prior live as it converges."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from ..prior import deep_segmentation_prior
        from ..recipes import get_preset

        super().__init__(napari_viewer)
        self.preset = preset_box()
        boxes = parameter_boxes(
            deep_segmentation_prior, get_preset(self.preset.value).foreground_prior, iterations=(1, 100_000),
            restarts=(1, 1000), learning_rate=(1e-5, 1.0, 0.001), max_size=(0, 100_000),
        )
        self.iterations, self.restarts, self.learning_rate, self.max_size = self._prior_boxes = boxes.values()
        self.max_size.native.setSpecialValueText("full resolution")
        self.preset.changed.connect(lambda name: set_boxes(self._prior_boxes, get_preset(name).foreground_prior))
        self.seed = seed_box(deep_segmentation_prior)
        self.precision = precision_box(deep_segmentation_prior)
        self.device = device_box(deep_segmentation_prior)
        self._finish_layout(self.preset, *boxes.values(), self.seed, self.precision, self.device)

    def parameters(self) -> dict:
        return dict(
            preset=self.preset.value, iterations=self.iterations.value, restarts=self.restarts.value,
            learning_rate=self.learning_rate.value, max_size=self.max_size.value, seed=self.seed.value,
            precision=self.precision.value, device=device_argument(self.device.value),
        )

    def _run(self) -> None:
        from ..prior import deep_segmentation_prior

        parameters = self.parameters()

        def estimate(job, source, indices):
            job.at(PRIOR, indices[0], 1)
            seconds = prior_seconds(source.plane(indices[0]).shape, source.plane_channel_axis, parameters)
            job.emit(None, message=f"estimated time: {duration(seconds, len(indices))}")

        def compute(job, plane, channel_axis, _index):
            return deep_segmentation_prior(plane, channel_axis=channel_axis, callback=job.callback, **parameters)

        self._launch_per_plane(PRIOR, compute, parameters, before=estimate)
