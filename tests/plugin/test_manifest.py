"""The napari manifest: valid, importable, and in step with the widgets and samples it names."""

import importlib
import subprocess
import sys

import pytest

npe2 = pytest.importorskip("npe2")

MENUS = {"napari/layers/segment", "napari/layers/measure"}


@pytest.fixture(scope="module")
def manifest():
    return npe2.PluginManifest.from_distribution("napari-dsp")


def test_npe2_validate_with_imports():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "--imports", "napari-dsp"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_every_command_resolves(manifest):
    for command in manifest.contributions.commands:
        module, _, name = command.python_name.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), command.id


def test_widgets_and_menus(manifest):
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert widgets == {
        "Segment", "Deep Segmentation Prior", "KMeans segmentation", "Backprop segmentation", "Power spectrum"
    }
    assert set(manifest.contributions.menus) == MENUS
    from napari._app_model.constants._menus import is_menu_contributable

    assert all(is_menu_contributable(menu) for menu in MENUS)
    in_segment_menu = {item.command for item in manifest.contributions.menus["napari/layers/segment"]}
    widget_commands = {w.command for w in manifest.contributions.widgets}
    assert in_segment_menu == widget_commands - {"napari-dsp.spectrum_widget"}


def test_samples_match_the_library(manifest):
    from napari_dsp.samples import SAMPLES

    assert {sample.key for sample in manifest.contributions.sample_data} == set(SAMPLES)


def test_widget_module_imports_neither_torch_nor_the_algorithms():
    code = (
        "import sys, napari_dsp._plugin.segment_widget, napari_dsp._plugin.prior_widget, "
        "napari_dsp._plugin.kmeans_widget, napari_dsp._plugin.backprop_widget, napari_dsp._plugin.spectrum_widget, "
        "napari_dsp._plugin._sample_data; "
        "heavy = {'torch', 'napari_dsp.prior', 'napari_dsp.backprop'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
