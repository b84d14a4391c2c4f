"""The KMeans dock widget: cluster the prior, re-segmenting as the parameters change."""

from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, ComboBox

from ._base import DSPWidget, parameter_boxes, seed_box

if TYPE_CHECKING:
    import napari


class KMeansWidget(DSPWidget):
    """Cluster the prior (or any image) with KMeans; re-segments as the parameters change."""

    image_label = "source"
    accepts_priors = True
    DEBOUNCE_MS = 300

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from qtpy.QtCore import QTimer

        from ..kmeans import kmeans_segmentation

        super().__init__(napari_viewer)
        boxes = parameter_boxes(kmeans_segmentation, n_clusters=(1, 256), window=(1, 99))
        self.n_clusters, self.window = boxes.values()
        self.n_clusters.label = "k"
        self.window.step = 2
        self.mode = ComboBox(choices=["kmeans", "foreground/background"], value="kmeans", label="mode", name="mode")
        self.seed = seed_box(kmeans_segmentation)
        self.auto_update = CheckBox(text="update automatically", value=True, name="auto_update")
        self.mode.tooltip = (
            "kmeans: k classes numbered from dark to bright; foreground/background: "
            "0 = background, 1 = foreground (see napari_dsp.kmeans.foreground_background)."
        )
        self.auto_update.tooltip = "Re-segment whenever k, the window, the mode or the seed changes."
        self.mode.changed.connect(self._mode_changed)
        self._finish_layout(self.n_clusters, self.window, self.mode, self.seed, self.auto_update)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DEBOUNCE_MS)
        self._timer.timeout.connect(self._auto_run)
        self._pending = False
        for widget in (self.n_clusters, self.window, self.mode, self.seed):
            widget.changed.connect(self._parameter_changed)

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

    def _on_finished(self, outputs: dict) -> None:
        super()._on_finished(outputs)
        if self._pending and not self._closed:
            self._pending = False
            self._run_clicked()

    def parameters(self) -> dict:
        parameters = dict(window=self.window.value, seed=self.seed.value)
        if self.mode.value == "kmeans":
            parameters["n_clusters"] = self.n_clusters.value
        return parameters

    def _run(self) -> None:
        from ..kmeans import foreground_background, kmeans_segmentation

        kind = "kmeans" if self.mode.value == "kmeans" else "foreground"
        segment = kmeans_segmentation if kind == "kmeans" else foreground_background
        parameters = self.parameters()
        taken = self._source()

        def compute(job, plane, channel_axis, _index):
            job.emit(None, status=f"{kind}: clustering")
            return segment(plane, channel_axis=channel_axis, **parameters)

        recorded = dict(parameters, mode=self.mode.value, input_layer=self.image.value.name)
        self._launch_per_plane(kind, compute, recorded, source=taken)
