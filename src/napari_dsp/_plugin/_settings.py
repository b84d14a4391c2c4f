"""Widget settings remembered from one napari session to the next."""

from functools import partial

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox
from qtpy.QtCore import QSettings


class Settings:
    """The settings boxes of a widget, remembered from one napari session to the next (`QSettings`).

    Choices (method, preset, ...) are restored before numbers, since choosing
    a preset sets the number boxes; unnamed boxes (layer choices) are not
    remembered.
    """

    def __init__(self, group: str, widgets):
        self._store = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "napari-dsp", "widgets")
        self._boxes = sorted(_value_boxes(widgets), key=lambda box: not isinstance(box, ComboBox))
        self._defaults = {box.name: box.value for box in self._boxes}
        for box in self._boxes:
            key = f"{group}/{box.name}"
            if self._store.contains(key):
                value = self._store.value(key, type=type(box.value))
                if not isinstance(box, ComboBox) or value in box.choices:
                    box.value = value
            box.changed.connect(partial(self._save, key))

    def _save(self, key: str, value) -> None:
        self._store.setValue(key, value)

    def restore_defaults(self, _value=None) -> None:
        for box in self._boxes:
            box.value = self._defaults[box.name]


def _value_boxes(widgets):
    """The named input boxes among `widgets`, looking into containers."""
    for widget in widgets:
        if isinstance(widget, Container):
            yield from _value_boxes(widget)
        elif isinstance(widget, (CheckBox, ComboBox, FloatSpinBox, SpinBox)) and widget.name:
            yield widget
