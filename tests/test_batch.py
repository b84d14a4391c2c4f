"""Batch segmentation on a real Dask cluster of two worker processes, on tiny images."""

import json
import os
import signal
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_dsp.batch import SUMMARY, find_images, segment_files
from napari_dsp.cli import main
from napari_dsp.pipeline import segment

distributed = pytest.importorskip("distributed")

FAST = ["--iterations", "2", "--restarts", "1", "--seed", "0", "--device", "cpu", "--window", "3"]
OPTIONS = dict(iterations=2, restarts=1, seed=0, device="cpu", window=3)
OUTPUTS = ("prior.tif", "prior.png", "labels.tif", "labels.png", "overlay.png", "parameters.json")


def _grey(shape, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, size=shape).astype(np.uint8)
    image[..., shape[-2] // 4: 3 * shape[-2] // 4, shape[-1] // 4: 3 * shape[-1] // 4] += 150
    return image


def _rgb(seed):
    image = _grey((24, 32), seed)
    return np.stack([image, image[::-1], image], axis=-1)


@pytest.fixture(scope="module")
def scheduler():
    """The address of a running cluster of two single-threaded worker processes, shared by the tests."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def _summary(out):
    return [json.loads(line) for line in (out / SUMMARY).read_text().splitlines()]


def test_folder_outputs_equal_segment_and_rerun_does_nothing(scheduler, tmp_path):
    folder, out, reference = tmp_path / "in", tmp_path / "out", tmp_path / "reference"
    folder.mkdir()
    iio.imwrite(folder / "grey.png", _grey((24, 32), seed=1))
    iio.imwrite(folder / "rgb.png", _rgb(seed=2))
    stack = _grey((3, 20, 24), seed=3)
    tifffile.imwrite(folder / "stack.tif", stack, photometric="minisblack")

    assert main(["batch", str(folder), "--out", str(out), "--scheduler", scheduler, *FAST]) == 0

    for name in ("grey", "rgb"):
        assert main(["segment", str(folder / f"{name}.png"), *FAST, "--out", str(reference)]) == 0
        (parameters,) = out.glob(f"{name}_*_parameters.json")
        prefix = parameters.name[: -len("parameters.json")]
        for output in OUTPUTS:
            expected, got = reference / f"{name}_{output}", out / f"{prefix}{output}"
            if output.endswith(".json"):
                assert json.loads(got.read_text()) == json.loads(expected.read_text())
            else:
                np.testing.assert_array_equal(iio.imread(got), iio.imread(expected), err_msg=output)
    # The stack comes back in order, each plane as `segment` gives it.
    (labels,) = out.glob("stack_*_labels.tif")
    expected = np.stack([segment(plane, **OPTIONS).labels for plane in stack])
    np.testing.assert_array_equal(tifffile.imread(labels), expected)
    assert tifffile.imread(labels.with_name(labels.name.replace("labels", "prior"))).shape == stack.shape
    rows = _summary(out)
    assert {(os.path.basename(row["input"]), row["plane"]) for row in rows if row["status"] == "done"} == {
        ("grey.png", None), ("rgb.png", None), ("stack.tif", None), ("stack.tif", 0), ("stack.tif", 1), ("stack.tif", 2)
    } and len(rows) == 6
    assert all(row["labels"] == 2 and row["seconds"] > 0 for row in rows)

    written = {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.name != SUMMARY}
    # A re-run, here with the settings read back from a parameters.json, finds everything finished.
    config = ["--config", str(parameters), "--iterations", "2"]
    assert main(["batch", str(folder), "--out", str(out), "--scheduler", "tcp://127.0.0.1:1", *config]) == 0
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*") if path.name != SUMMARY} == written
    assert {row["status"] for row in _summary(out)} == {"skipped"} and len(_summary(out)) == 3


def test_regions_without_the_prior_write_no_prior(scheduler, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    iio.imwrite(folder / "rgb.png", _rgb(seed=2))
    stack = _grey((2, 20, 24), seed=3)
    tifffile.imwrite(folder / "stack.tif", stack, photometric="minisblack")
    options = ["--method", "regions", "--no-prior", "--merge-threshold", "5", "--seed", "0", "--device", "cpu"]

    assert main(["batch", str(folder), "--out", str(out), "--scheduler", scheduler, *options]) == 0

    assert not list(out.rglob("*prior*"))
    (labels,) = out.glob("stack_*_labels.tif")
    expected = [segment(plane, method="regions", fit_prior=False, seed=0, region_options={"threshold": 5}).labels
                for plane in stack]
    np.testing.assert_array_equal(tifffile.imread(labels), np.stack(expected))
    (parameters,) = out.glob("rgb_*_parameters.json")
    recorded = json.loads(parameters.read_text())
    assert recorded["fit_prior"] is False and "iterations" not in recorded
    # Given either way, the same settings name the same outputs: the re-run skips them all.
    assert main(["batch", str(folder), "--out", str(out), "--config", str(parameters), "--scheduler",
                 "tcp://127.0.0.1:1"]) == 0
    assert {row["status"] for row in _summary(out)} == {"skipped"}


def test_corrupt_file_is_reported_while_others_finish(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        iio.imwrite(folder / f"good{index}.png", _grey((24, 32), seed=index))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "broken.tif").write_text("not a tiff")

    result = segment_files(folder, tmp_path / "out", n_workers=2, progress=False, **OPTIONS)

    assert result.counts() == {"done": 3, "skipped": 0, "failed": 2}
    failed = {os.path.basename(item.input): item.error for item in result.items if item.status == "failed"}
    assert failed == {
        "broken.png": f"{folder / 'broken.png'}: cannot read it as an image (PNG, JPEG or TIFF)",
        "broken.tif": f"{folder / 'broken.tif'}: cannot read it as a TIFF image",
    }
    assert len(list((tmp_path / "out").glob("good*_labels.tif"))) == 3
    assert sorted(row["status"] for row in _summary(tmp_path / "out")) == ["done"] * 3 + ["failed"] * 2


class _KillFirstTask(distributed.WorkerPlugin):
    """Kills its worker process, as the out-of-memory killer would, when the first task of the cluster starts."""

    def __init__(self, marker):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


def test_worker_killed_mid_task_loses_no_item(scheduler, tmp_path):
    folder, marker = tmp_path / "in", tmp_path / "killed"
    folder.mkdir()
    for index in range(3):
        iio.imwrite(folder / f"image{index}.png", _grey((24, 32), seed=index))
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    with distributed.Client(scheduler) as client:
        client.register_plugin(_KillFirstTask(str(marker)), name="kill-first-task")
        try:
            result = segment_files(folder, tmp_path / "out", scheduler=scheduler, progress=False, **OPTIONS)
        finally:
            client.unregister_worker_plugin("kill-first-task")

    assert marker.exists()  # a worker did die
    assert result.counts() == {"done": 3, "skipped": 0, "failed": 0}
    assert len(list((tmp_path / "out").glob("image*_parameters.json"))) == 3


def test_find_images(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.TIF", "notes.txt", "sub/c.jpg"):
        (tmp_path / name).write_bytes(b"")

    assert [p.name for p in find_images(tmp_path)] == ["a.TIF", "b.png"]  # the folder's images, not its subfolders
    assert [p.name for p in find_images([str(tmp_path / "**" / "*.jpg"), tmp_path / "b.png", tmp_path])] == [
        "c.jpg", "b.png", "a.TIF"]  # each once, in the order given
    with pytest.raises(ValueError, match="holds no image"):
        find_images(tmp_path / "*.gif")
    with pytest.raises(ValueError, match="is no file, folder or matching pattern"):
        find_images(tmp_path / "missing.png")


@pytest.mark.parametrize(
    "option, message",
    [({"method": "watershed"}, "method='watershed' is unknown"), ({"window": 4}, "window=4 must be odd"),
     ({"n_workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "leave it None"), ({"retries": -1}, "retries=-1"),
     ({"method": "regions", "region_options": {"min_size": 2}}, "min_size=2"),
     ({"fit_prior": False}, "fit_prior=False works only with method='regions'"),
     ({"precision": "float16"}, "precision='float16'")],
)
def test_bad_options_fail_before_any_work(tmp_path, option, message):
    iio.imwrite(tmp_path / "a.png", _grey((24, 32), seed=0))
    with pytest.raises(ValueError, match=message):
        segment_files(tmp_path / "a.png", tmp_path / "out", **option)
    assert not (tmp_path / "out").exists()


def test_config_regions_become_region_options(tmp_path):
    from napari_dsp.batch import load_settings

    path = tmp_path / "a_parameters.json"
    path.write_text(json.dumps({"input": "a.png", "method": "regions", "regions": {"threshold": 12}}))
    assert load_settings(path) == {"method": "regions", "region_options": {"threshold": 12}}


def test_center_sigma_names_foreground_outputs_only(tmp_path):
    from napari_dsp import batch
    from napari_dsp.recipes import FOREGROUND

    image = tmp_path / "a.png"
    iio.imwrite(image, _grey((8, 8), seed=0))
    common = dict(preset="fast", n_clusters=2, window=3, rule="saliency", iterations=2, restarts=1, max_size=0,
                  device="cpu", seed=0, backprop_options=None)
    kmeans = batch._check_options(method="kmeans", **common)
    assert "center_sigma" not in kmeans  # other methods keep the names of earlier runs
    default = batch._check_options(method="foreground", **common)
    assert default["center_sigma"] == FOREGROUND.center_sigma
    off = batch._check_options(method="foreground", center_sigma=0.0, **common)
    assert batch._digest(image, off) != batch._digest(image, default)
    with pytest.raises(ValueError, match="center_sigma=-0.5"):
        batch._check_options(method="foreground", center_sigma=-0.5, **common)


def test_missing_dask_is_one_line_with_the_fix(tmp_path, monkeypatch, capsys):
    iio.imwrite(tmp_path / "a.png", _grey((24, 32), seed=0))
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError

    assert main(["batch", str(tmp_path / "a.png"), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "napari-dsp: error: batch segmentation needs dask.distributed: pip install napari-dsp[batch] "
        "(or 'dask[distributed]')"
    ]


def test_output_names_cover_the_presets_averaging(tmp_path, monkeypatch):
    from dataclasses import replace

    from napari_dsp import batch, recipes

    image = tmp_path / "a.png"
    iio.imwrite(image, _grey((8, 8), seed=0))
    options = batch._check_options(method="kmeans", preset="fast", n_clusters=2, window=3, rule="saliency",
                                   iterations=2, restarts=1, max_size=0, device="cpu", seed=0,
                                   backprop_options=None, region_options=None)
    averaged = batch._digest(image, options)
    half = batch._check_options(method="kmeans", preset="fast", n_clusters=2, window=3, rule="saliency",
                                iterations=2, restarts=1, max_size=0, device="cpu", seed=0,
                                backprop_options=None, region_options=None, precision="bfloat16")
    assert "precision" not in options  # float32 leaves the names of earlier runs as they were
    assert batch._digest(image, half) != averaged
    last_only = replace(recipes.FAST, foreground_prior=replace(recipes.FAST.foreground_prior, average_last=1))
    monkeypatch.setitem(recipes.PRESETS, "fast", last_only)
    assert batch._digest(image, options) != averaged  # a re-run after the preset changed does not skip
