"""The Power spectrum dock widget: spectra of an image, its prior and a low-pass baseline."""

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import Label, PushButton
from napari.utils.notifications import show_error

from . import _layers
from ._base import ImageWidget
from ._layers import PRIOR

if TYPE_CHECKING:
    import napari


class SpectrumWidget(ImageWidget):
    """Azimuthally averaged power spectra of an image, its prior and a low-pass baseline (paper 3.3).

    The FFTs run in a worker thread; only the newest request is drawn.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer"):
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        super().__init__(napari_viewer)
        self.refresh_button = PushButton(text="Refresh")
        self.refresh_button.tooltip = "Redraw, e.g. after fitting the prior or moving to another slice."
        self.note = Label(value="")
        self.figure = Figure(figsize=(3, 1.8), layout="constrained")
        self.axes = self.figure.add_subplot()
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(120)
        self.form.extend([self.image, self.refresh_button])
        self._lay_out(self.note)
        self.native.layout().addWidget(self.canvas)
        self.refresh_button.changed.connect(self.draw)
        self._request = 0
        self.worker = None
        self._follow_selection()
        self.draw()

    def _show_image(self, layer) -> None:
        self.draw()

    @property
    def computing(self) -> bool:
        return self.worker is not None

    def draw(self, _value=None) -> None:
        """Plot the spectra of the chosen image's displayed slice and of its prior, if fitted."""
        from napari.qt.threading import create_worker

        from ..spectrum import compare_spectra

        self._request += 1
        try:
            source = _layers.image_source(self.image.value)
        except ValueError as exc:
            self._show(self._request, str(exc))
            return
        index = _layers.current_index(self.viewer, source, self.image.value)
        image = source.plane(index)
        prior_layer = _layers.find_output(self.viewer, source.name, PRIOR)
        prior = None if prior_layer is None else np.asarray(prior_layer.data[index])
        if prior is not None and (prior.shape != image.shape or not prior.any()):
            prior = None

        def compute():
            try:
                return compare_spectra(image, prior, channel_axis=source.plane_channel_axis)
            except ValueError as exc:
                return f"{source.name}: {exc}"

        self.note.value = f"{source.name}: computing..."
        self.worker = create_worker(compute, _start_thread=False)
        request, label = self._request, source.name + ("" if prior is not None else " (no prior fitted yet)")
        self.worker.returned.connect(lambda result: self._show(request, result, label))
        self.worker.finished.connect(lambda: self._done(request))
        self.worker.start()

    def _done(self, request: int) -> None:
        if request == self._request:
            self.worker = None

    def _show(self, request: int, result, label: str = "") -> None:
        """Draw `result` (spectra, or a message why there are none) if it answers the newest request."""
        from ..evaluation.figures import draw_spectrum

        if request != self._request or self._closed:
            return
        self.axes.clear()
        if isinstance(result, str):
            self.note.value = result
            if self.image.value is not None:
                show_error(f"napari-dsp: {result}")
        else:
            draw_spectrum(self.axes, result)
            self.note.value = label
        self.canvas.draw_idle()
