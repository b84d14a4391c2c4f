"""The Power spectrum dock widget: spectra of an image, its prior and a low-pass baseline."""

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import Label, PushButton

from . import _layers
from ._base import ImageWidget
from ._layers import PRIOR

if TYPE_CHECKING:
    import napari


class SpectrumWidget(ImageWidget):
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
        from ..evaluation.figures import draw_spectrum
        from ..spectrum import compare_spectra

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
