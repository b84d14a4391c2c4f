"""The one-click Segment dock widget: fit the prior and segment it."""

from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, SpinBox

from ._base import DSPWidget, device_argument, device_box, parameter_boxes, seed_box, tooltips
from ._layers import PRIOR

if TYPE_CHECKING:
    import napari


class SegmentWidget(DSPWidget):
    """One click: fit the prior and segment it (`napari_dsp.pipeline.segment`), showing both layers."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from ..backprop import backprop_segmentation
        from ..pipeline import METHODS, segment

        super().__init__(napari_viewer)
        self.method = ComboBox(choices=METHODS, value="kmeans", label="method")
        self.method.tooltip = (
            "kmeans: k classes by window KMeans on the prior; foreground: foreground/background; "
            "backprop: an unknown number of classes by self-training a CNN guided by the prior."
        )
        self.n_clusters = parameter_boxes(segment, n_clusters=(1, 256))["n_clusters"]
        self.n_clusters.label = "k"
        self.max_iterations = parameter_boxes(backprop_segmentation, max_iterations=(1, 100_000))["max_iterations"]
        self.max_iterations.enabled = False
        # The prior's settings depend on the method (segment's None): 0 shows as "paper's value".
        described = tooltips(segment)
        self.iterations = SpinBox(value=0, min=0, max=100_000, name="iterations", tooltip=described["iterations"])
        self.restarts = SpinBox(value=0, min=0, max=1000, name="restarts", tooltip=described["restarts"])
        for box in (self.iterations, self.restarts):
            box.native.setSpecialValueText("paper's value")
        self.seed = seed_box(segment)
        self.device = device_box(segment)
        self.method.changed.connect(self._method_changed)
        self._finish_layout(self.method, self.n_clusters, self.max_iterations, self.iterations, self.restarts,
                            self.seed, self.device)

    def _method_changed(self, method: str) -> None:
        self.n_clusters.enabled = method == "kmeans"
        self.max_iterations.enabled = method == "backprop"

    def parameters(self) -> dict:
        parameters = dict(
            method=self.method.value, iterations=self.iterations.value or None,
            restarts=self.restarts.value or None, seed=self.seed.value, device=device_argument(self.device.value),
        )
        if self.method.value == "kmeans":
            parameters["n_clusters"] = self.n_clusters.value
        if self.method.value == "backprop":
            parameters["backprop_options"] = {"max_iterations": self.max_iterations.value}
        return parameters

    def _run(self) -> None:
        from ..pipeline import segment

        parameters = self.parameters()
        method = parameters["method"]

        def compute(job, plane, channel_axis, _index):
            result = segment(plane, channel_axis=channel_axis, callback=job.callback, **parameters)
            return {PRIOR: result.prior, method: result.labels}

        self._launch_per_plane(method, compute, parameters, kinds=(PRIOR, method),
                               stages={"prior": PRIOR, "backprop": "backprop"})
