import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_dsp.cli import main
from napari_dsp.samples import SAMPLES, load_sample

FAST = ["--iterations", "2", "--restarts", "1", "--seed", "0", "--device", "cpu"]
OUTPUTS = ("prior.tif", "prior.png", "labels.tif", "labels.png", "overlay.png", "parameters.json")


def _square(shape, dtype, low, high):
    """A bright square on a dark frame, of the given (M, N[, C]) shape."""
    image = np.full(shape, low, dtype=dtype)
    image[shape[0] // 4: 3 * shape[0] // 4, shape[1] // 4: 3 * shape[1] // 4] = high
    return image


def test_bundled_sample(tmp_path, capsys):
    out = tmp_path / "out"

    assert main(["segment", "--sample", "coffee", *FAST, "--out", str(out)]) == 0

    assert str(out) in capsys.readouterr().out
    assert sorted(path.name for path in out.iterdir()) == sorted(f"coffee_{name}" for name in OUTPUTS)
    labels = tifffile.imread(out / "coffee_labels.tif")
    assert labels.shape == (400, 600) and labels.dtype == np.int32
    assert set(np.unique(labels)) == {1, 2}
    np.testing.assert_array_equal(iio.imread(out / "coffee_labels.png"), labels)
    assert tifffile.imread(out / "coffee_prior.tif").shape == (400, 600, 3)
    overlay = iio.imread(out / "coffee_overlay.png")
    assert overlay.shape == (400, 600, 3) and overlay.dtype == np.uint8
    parameters = json.loads((out / "coffee_parameters.json").read_text())
    assert parameters["input"] == "sample:coffee"
    assert (parameters["iterations"], parameters["restarts"], parameters["n_clusters"]) == (2, 1, 2)


@pytest.mark.parametrize(
    "name, image",
    [
        ("rgb.png", _square((32, 40, 3), np.uint8, 20, 230)),
        ("rgba.png", _square((32, 40, 4), np.uint8, 20, 230)),
        ("grey16.tif", _square((32, 40), np.uint16, 1000, 50000)),
        ("float.tif", _square((32, 40), np.float32, -1.5, 2.5)),
    ],
)
def test_image_files(tmp_path, name, image):
    path = tmp_path / name
    if name.endswith(".png"):
        iio.imwrite(path, image)
    else:
        tifffile.imwrite(path, image)

    # Enough iterations for the prior of this tiny image to hold the square.
    options = ["--method", "foreground", "--window", "3", "--iterations", "40", "--restarts", "1", "--seed", "0"]
    code = main(["segment", str(path), *options, "--device", "cpu", "--out", str(tmp_path)])

    assert code == 0
    stem = path.stem
    mask = tifffile.imread(tmp_path / f"{stem}_labels.tif")
    expected = _square((32, 40), np.int32, 0, 1)
    assert np.mean(mask == expected) > 0.95
    prior_shape = image.shape if image.ndim == 2 else image.shape[:2] + (3,)  # alpha is dropped
    assert tifffile.imread(tmp_path / f"{stem}_prior.tif").shape == prior_shape


def test_prior_of_an_earlier_run_replaces_the_fit(tmp_path, capsys, monkeypatch):
    from napari_dsp import pipeline

    path = tmp_path / "rgb.png"
    iio.imwrite(path, _square((32, 40, 3), np.uint8, 20, 230))
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["segment", str(path), *FAST, "--out", str(first)]) == 0
    monkeypatch.setattr(pipeline, "deep_segmentation_prior", lambda *args, **kwargs: pytest.fail("prior fitted"))
    prior = first / "rgb_prior.tif"
    assert main(["segment", str(path), *FAST, "--prior", str(prior), "--precision", "bfloat16",
                 "--out", str(second)]) == 0
    np.testing.assert_array_equal(tifffile.imread(second / "rgb_labels.tif"), tifffile.imread(first / "rgb_labels.tif"))
    np.testing.assert_array_equal(tifffile.imread(second / "rgb_prior.tif"), tifffile.imread(prior))
    parameters = json.loads((second / "rgb_parameters.json").read_text())
    assert parameters["prior"] == str(prior) and "iterations" not in parameters and "precision" not in parameters
    # its parameters.json works as a --config (the prior file is the image's, not a setting)
    assert main(["segment", str(path), "--config", str(second / "rgb_parameters.json"), "--prior", str(prior),
                 "--method", "regions", "--out", str(second)]) == 0
    capsys.readouterr()
    code, message = _run_failing(["segment", "--sample", "coffee", "--prior", str(prior)], capsys)
    assert code == 1
    assert message.endswith(f"{prior}: prior of shape (32, 40, 3) does not match the image's (400, 600, 3)")


def test_regions_without_the_prior(tmp_path):
    path = tmp_path / "rgb.png"
    iio.imwrite(path, _square((32, 40, 3), np.uint8, 20, 230))
    assert main(["segment", str(path), "--method", "regions", "--no-prior", "--out", str(tmp_path / "regions")]) == 0
    names = sorted(p.name for p in (tmp_path / "regions").iterdir())
    assert names == sorted(f"rgb_{output}" for output in OUTPUTS if not output.startswith("prior"))
    assert json.loads((tmp_path / "regions" / "rgb_parameters.json").read_text())["fit_prior"] is False
    # like the other region options, it does not apply to another method: that one fits its prior
    assert main(["segment", str(path), "--no-prior", *FAST, "--out", str(tmp_path / "kmeans")]) == 0
    assert (tmp_path / "kmeans" / "rgb_prior.tif").is_file()


def _run_failing(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return code, err[0]


def test_missing_file(tmp_path, capsys):
    code, err = _run_failing(["segment", str(tmp_path / "nothing.png")], capsys)
    assert code == 1 and "nothing.png: no such file" in err


def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "text.png"
    path.write_text("not an image")
    code, err = _run_failing(["segment", str(path)], capsys)
    assert code == 1 and "cannot read it as an image" in err


def test_stack_is_rejected(tmp_path, capsys):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((5, 20, 20), dtype=np.uint8))
    code, err = _run_failing(["segment", str(path)], capsys)
    assert code == 1 and "shape (5, 20, 20)" in err


@pytest.mark.parametrize(
    "option, message", [(["--window", "4"], "window=4"), (["--k", "0"], "n_clusters=0")]
)
def test_bad_parameter(tmp_path, capsys, option, message):
    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    code, err = _run_failing(["segment", str(path), *option, "--out", str(tmp_path)], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "grey_labels.tif").exists()


def test_input_and_sample_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", str(tmp_path / "a.png"), "--sample", "coffee"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_console_entry_runs_without_napari_or_qt(tmp_path):
    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    script = (
        "import sys\n"
        "from napari_dsp.cli import main\n"
        f"code = main({['segment', str(path), '--window', '3', *FAST, '--out', str(tmp_path)]!r})\n"
        "print(sorted(m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui')"
        " if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "grey_labels.png").exists()


def test_module_entry_reports_errors_without_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "napari_dsp", "segment", str(tmp_path / "missing.tif")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"napari-dsp: error: {tmp_path / 'missing.tif'}: no such file"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_ship_with_scikit_image(name):
    import skimage.data

    assert (Path(skimage.data.__file__).parent / f"{name}.png").is_file()  # loaded from disk, never fetched
    image = load_sample(name)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8


def test_unknown_sample():
    with pytest.raises(ValueError, match="unknown sample 'lena'; choose one of coffee, chelsea, astronaut"):
        load_sample("lena")


def test_directory_as_input_is_reported_as_such(tmp_path, capsys):
    code, err = _run_failing(["segment", str(tmp_path)], capsys)
    assert code == 1 and err == f"napari-dsp: error: {tmp_path}: is a directory; pass an image file"


@pytest.mark.parametrize(
    "command, option, message",
    [
        ("slic", ["--n-segments", "0"], "n_segments=0 must be a positive integer"),
        ("slic", ["--compactness", "-1"], "compactness=-1.0 must be a finite number > 0"),
        ("windows", ["--windows", "4"], "window=4"),
        ("spectrum", ["--keep", "0"], "keep=0.0 must be a number in (0, 1]"),
    ],
)
def test_figure_options_are_checked_before_the_prior(tmp_path, capsys, monkeypatch, command, option, message):
    from napari_dsp import prior

    monkeypatch.setattr(prior, "deep_segmentation_prior", lambda *args, **kwargs: pytest.fail("prior computed"))
    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    code, err = _run_failing([command, str(path), *option, "--out", str(tmp_path / "figure.png")], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "figure.png").exists()


@pytest.mark.parametrize("out, written", [("folder", "folder/dsp-slic.png"), ("figure", "figure.png")])
def test_figure_path_printed_is_the_one_written(tmp_path, capsys, out, written):
    (tmp_path / "folder").mkdir()
    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    prior_path = tmp_path / "prior.tif"
    tifffile.imwrite(prior_path, _square((24, 24), np.float32, 0, 255))

    code = main(["slic", str(path), "--prior", str(prior_path), "--n-segments", "4", "--out", str(tmp_path / out)])

    assert code == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / written}\n"
    assert (tmp_path / written).is_file()


def test_segment_tiffs_carry_provenance_and_config_reruns_them(tmp_path):
    import json

    import tifffile

    out = tmp_path / "first"
    assert main(["segment", "--sample", "coffee", "--preset", "fast", "--iterations", "3", "--max-size", "64",
                 "--seed", "1", "--device", "cpu", "--out", str(out)]) == 0
    with tifffile.TiffFile(out / "coffee_labels.tif") as tif:
        provenance = json.loads(tif.pages[0].description)["napari_dsp"]
    assert provenance["kind"] == "kmeans" and provenance["parameters"]["iterations"] == 3
    again = tmp_path / "again"
    assert main(["segment", "--sample", "coffee", "--config", str(out / "coffee_parameters.json"),
                 "--out", str(again)]) == 0
    first, second = (json.loads((d / "coffee_parameters.json").read_text()) for d in (out, again))
    assert first == second
    np.testing.assert_array_equal(tifffile.imread(out / "coffee_labels.tif"), tifffile.imread(again / "coffee_labels.tif"))


def test_precision_is_recorded_and_a_config_reruns_it(tmp_path):
    import json

    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    fast = ["--iterations", "2", "--restarts", "1", "--seed", "0", "--device", "cpu"]
    assert main(["segment", str(path), *fast, "--out", str(tmp_path / "single")]) == 0
    assert main(["segment", str(path), *fast, "--precision", "bfloat16", "--out", str(tmp_path / "half")]) == 0
    single, half = (json.loads((tmp_path / d / "grey_parameters.json").read_text()) for d in ("single", "half"))
    assert "precision" not in single and half["precision"] == "bfloat16"
    assert main(["segment", str(path), "--config", str(tmp_path / "half" / "grey_parameters.json"),
                 "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "grey_parameters.json").read_text()) == half


def test_center_sigma_is_recorded_for_foreground_and_a_config_reruns_it(tmp_path, capsys):
    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    assert main(["segment", str(path), "--method", "foreground", "--center-sigma", "0", *FAST,
                 "--out", str(tmp_path / "off")]) == 0
    recorded = json.loads((tmp_path / "off" / "grey_parameters.json").read_text())
    assert recorded["center_sigma"] == 0
    assert main(["segment", str(path), "--config", str(tmp_path / "off" / "grey_parameters.json"),
                 "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "grey_parameters.json").read_text()) == recorded
    assert main(["segment", str(path), *FAST, "--out", str(tmp_path / "kmeans")]) == 0
    assert "center_sigma" not in json.loads((tmp_path / "kmeans" / "grey_parameters.json").read_text())
    capsys.readouterr()
    code, err = _run_failing(["segment", str(path), "--method", "foreground", "--center-sigma", "-1",
                              "--out", str(tmp_path / "bad")], capsys)
    assert code == 2 and "center_sigma=-1.0" in err


def test_region_options_are_recorded_and_a_config_reruns_them(tmp_path, capsys):
    import json

    path = tmp_path / "grey.png"
    iio.imwrite(path, _square((24, 24), np.uint8, 0, 255))
    fast = ["--iterations", "2", "--restarts", "1", "--seed", "0", "--device", "cpu"]
    assert main(["segment", str(path), "--method", "regions", "--merge-threshold", "3.5", "--smallest-region",
                 "0.01", *fast, "--out", str(tmp_path / "first")]) == 0
    recorded = json.loads((tmp_path / "first" / "grey_parameters.json").read_text())["regions"]
    assert recorded["threshold"] == 3.5 and recorded["min_size"] == 0.01
    assert main(["segment", str(path), "--config", str(tmp_path / "first" / "grey_parameters.json"),
                 "--merge-threshold", "7", "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "grey_parameters.json").read_text())["regions"]
    assert again["threshold"] == 7 and again["min_size"] == 0.01  # the command line overrides the file
    capsys.readouterr()
    code, err = _run_failing(["segment", str(path), "--method", "regions", "--merge-threshold", "0",
                              "--out", str(tmp_path / "bad")], capsys)
    assert code == 2 and "threshold=0.0 must be a finite number > 0" in err
