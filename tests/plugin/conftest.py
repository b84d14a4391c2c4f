"""Fixtures of the widget tests: a real viewer (Xvfb) and the notifications it sent."""

import pytest


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def notifications():
    """Function returning the (severity, message) of napari notifications sent since the test began."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)
    return lambda: [(str(n.severity), n.message) for n in notification_manager.records[start:]]


@pytest.fixture(autouse=True)
def fresh_settings(tmp_path):
    """Every test starts from the widgets' defaults: remembered settings go to a folder of its own."""
    from qtpy.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
