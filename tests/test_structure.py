"""The package's layering and its single source of defaults."""

import ast
import inspect
from pathlib import Path

import pytest

import napari_dsp
from napari_dsp.recipes import FAST, FOREGROUND, PAPER

PACKAGE = Path(napari_dsp.__file__).parent
GUI = ("napari", "qtpy", "magicgui", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy")


def _imports(path):
    """Absolute names of the modules `path` imports (relative imports resolved), at any depth."""
    package = ".".join(("napari_dsp", *path.relative_to(PACKAGE).parent.parts))
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                names.update([module] + [f"{module}.{alias.name}" for alias in node.names])
            else:
                names.add(node.module)
    return names


def _modules(*exclude):
    return [p for p in PACKAGE.rglob("*.py") if not any(part in exclude for part in p.relative_to(PACKAGE).parts)]


@pytest.mark.parametrize("path", _modules("_plugin"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_plugin_imports_napari_or_qt(path):
    gui = {name for name in _imports(path) if name.split(".")[0] in GUI}
    assert not gui, f"{path.name} imports {sorted(gui)}; only napari_dsp._plugin may"


@pytest.mark.parametrize(
    "path", _modules("_plugin", "evaluation", "cli.py", "metrics.py", "datasets.py", "figures.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_algorithms_do_not_import_the_evaluation(path):
    evaluation = {name for name in _imports(path) if name.startswith("napari_dsp.evaluation")}
    assert not evaluation, f"{path.name} imports {sorted(evaluation)}"


def test_the_layering_check_sees_relative_imports():
    imports = _imports(PACKAGE / "_plugin" / "_base.py")
    assert "napari_dsp._plugin._layers" in imports and "napari_dsp._device" in imports
    assert "napari.utils.notifications" in imports


def _default(func, name):
    return inspect.signature(func).parameters[name].default


def test_function_defaults_are_the_papers():
    from napari_dsp.backprop import BackpropOptions, backprop_segmentation
    from napari_dsp.kmeans import foreground_background, kmeans_segmentation
    from napari_dsp.prior import deep_segmentation_prior

    from napari_dsp.prior import _resolve

    assert _default(deep_segmentation_prior, "preset") == PAPER.name
    assert _resolve(PAPER.name, None, None, None, None, None) == PAPER.foreground_prior
    assert (PAPER.foreground_prior.iterations, PAPER.foreground_prior.restarts) == (50, 11)
    assert (PAPER.multiclass_prior.iterations, PAPER.multiclass_prior.restarts) == (100, 10)
    assert _default(kmeans_segmentation, "window") == _default(foreground_background, "window") == 7
    recipe = PAPER.backprop
    for name in ("n_segments", "compactness", "max_iterations", "min_labels", "warmup", "cosine_annealing"):
        assert _default(backprop_segmentation, name) is None  # taken from the preset
        assert getattr(BackpropOptions.from_preset("paper"), name) == getattr(recipe, name) \
            == getattr(BackpropOptions(), name)
    assert (recipe.n_segments, recipe.compactness, recipe.max_iterations, recipe.min_labels) == (1000, 10, 1000, 3)


def _help(*args):
    from napari_dsp.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "segment" in a.choices)
    return " ".join(subparsers.choices[args[0]].format_help().split())


def test_cli_help_states_the_recipe_defaults():
    segment = _help("segment")
    assert f"(default: {PAPER.kmeans.window})" in segment
    assert f"paper {PAPER.foreground_prior.iterations}, {PAPER.multiclass_prior.iterations} for backprop and " \
        f"regions; fast {FAST.foreground_prior.iterations}, {FAST.multiclass_prior.iterations} for backprop and " \
        "regions)" in segment
    assert f"paper {PAPER.foreground_prior.restarts}, {PAPER.multiclass_prior.restarts} for backprop and " \
        f"regions; fast {FAST.foreground_prior.restarts})" in segment
    assert f"fast {FAST.foreground_prior.max_size}, {FAST.multiclass_prior.max_size} for backprop and regions)" \
        in segment
    assert f"(paper {PAPER.backprop.max_iterations}, fast {FAST.backprop.max_iterations})" in segment
    assert f"anywhere in the frame (default: {FOREGROUND.center_sigma})" in segment
    benchmark = _help("benchmark")
    assert f"(default: {PAPER.foreground_prior.iterations} for ecssd, {PAPER.multiclass_prior.iterations} for bsds500)" \
        in benchmark
    assert f"SLIC superpixels of backprop (default: {PAPER.backprop.n_segments})" in benchmark
    assert f"SLIC superpixels (default: {PAPER.backprop.n_segments})" in _help("slic")


def test_backprop_in_the_pipeline_uses_the_multiclass_prior():
    from napari_dsp.pipeline import prior_recipe

    assert prior_recipe("backprop") == PAPER.multiclass_prior
    assert prior_recipe("kmeans") == prior_recipe("foreground") == PAPER.foreground_prior


def test_old_import_paths_still_work():
    with pytest.warns(DeprecationWarning, match="napari_dsp.evaluation.metrics"):
        import napari_dsp.metrics  # noqa: F401
    from napari_dsp.evaluation import run_benchmark  # noqa: F401 - the old module is now the package

    with pytest.warns(DeprecationWarning, match="cosine_annealing"):
        from napari_dsp.backprop import check_backprop_options  # noqa: F401
        from napari_dsp.backprop import backprop_segmentation
        import numpy as np

        backprop_segmentation(np.random.default_rng(0).random((12, 12)), cosine_restarts=False, max_iterations=1,
                              warmup=0, n_features=4, n_segments=4, seed=0)
