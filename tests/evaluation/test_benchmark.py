import json

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.io import savemat

from napari_dsp.evaluation import benchmark
from napari_dsp.cli import main
from napari_dsp.evaluation.datasets import load_dataset
from napari_dsp.evaluation.benchmark import markdown_table, plan_jobs, read_records, run_benchmark, summarize
from napari_dsp.recipes import FOREGROUND

TINY_PRIOR = {"iterations": 2, "restarts": 2}


def square_scene(index, size=32):
    """A textured bright square on a dark background: (image, mask)."""
    rng = np.random.default_rng(index)
    mask = np.zeros((size, size), bool)
    start = 6 + index
    mask[start:start + 14, start + 2:start + 18] = True
    image = np.where(mask[..., None], 200, 40) + rng.integers(-15, 15, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def annotations(mask):
    """A coarse (object, background) and a fine annotation (plus a strip on the left)."""
    coarse = 1 + mask.astype(np.uint16)
    fine = coarse.copy()
    fine[:, :4] = 3
    return coarse, fine


@pytest.fixture
def ecssd(tmp_path):
    root = tmp_path / "ecssd"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(2):
        image, mask = square_scene(i)
        iio.imwrite(root / "images" / f"{i:04d}.png", image)
        iio.imwrite(root / "masks" / f"{i:04d}.png", mask.astype(np.uint8) * 255)
    return root


@pytest.fixture
def bsds(tmp_path):
    root = tmp_path / "bsds"
    (root / "images").mkdir(parents=True)
    (root / "groundTruth").mkdir()
    for i in range(2):
        image, mask = square_scene(i)
        iio.imwrite(root / "images" / f"{i}.png", image)
        coarse, fine = annotations(mask)
        cell = np.empty((1, 2), dtype=object)
        cell[0, 0] = {"Segmentation": coarse}
        cell[0, 1] = {"Segmentation": fine}
        savemat(root / "groundTruth" / f"{i}.mat", {"groundTruth": cell})
    return root


def test_plan_expands_kmeans_per_k_and_rejects_misfits():
    methods = [job.method for job in plan_jobs("multiclass", n_clusters=(2, 4), prior=TINY_PRIOR)]
    assert methods == [
        "blank", "kmeans-raw-k2", "kmeans-raw-k4", "kmeans-lowpass-k2", "kmeans-lowpass-k4",
        "kmeans-prior-k2", "kmeans-prior-k4", "regions-raw", "regions-prior", "backprop-raw", "backprop-prior",
        "backprop-prior-wc",
    ]
    foreground = {job.method: job for job in plan_jobs("foreground")}
    assert list(foreground) == [
        "blank", "kmeans-raw", "kmeans-lowpass", "kmeans-prior", "kmeans-raw-saliency", "kmeans-prior-saliency",
        "foreground-raw", "foreground-prior", "foreground-hybrid",
    ]  # Double-DIP only when named
    assert foreground["kmeans-prior"].settings["rule"] == "border"
    assert foreground["kmeans-prior-saliency"].settings["rule"] == "saliency"
    assert foreground["kmeans-prior-saliency"].settings["center_sigma"] == FOREGROUND.center_sigma
    assert "center_sigma" not in foreground["kmeans-prior"].settings
    assert "prior" in foreground["foreground-prior"].settings and "prior" not in foreground["foreground-raw"].settings
    assert [job.method for job in plan_jobs("foreground", methods=["doubledip"])] == ["doubledip"]
    with pytest.raises(ValueError, match="does not apply to the foreground task"):
        plan_jobs("foreground", methods=["backprop-prior"])
    with pytest.raises(ValueError, match="does not apply to the multiclass task"):
        plan_jobs("multiclass", methods=["foreground-prior"])
    with pytest.raises(ValueError, match="unknown method"):
        plan_jobs("foreground", methods=["kmeans"])
    with pytest.raises(ValueError, match="unknown prior option"):
        plan_jobs("foreground", prior={"iters": 3})


def test_settings_decide_which_results_are_shared():
    first = {job.method: job for job in plan_jobs("multiclass", prior=TINY_PRIOR, backprop={"scale": 0.5})}
    second = {job.method: job for job in plan_jobs("multiclass", prior={"iterations": 3}, backprop={"scale": 0.5})}
    assert first["kmeans-raw-k2"].key == second["kmeans-raw-k2"].key
    assert first["kmeans-prior-k2"].key != second["kmeans-prior-k2"].key
    assert first["backprop-raw"].key == second["backprop-raw"].key
    assert first["backprop-prior"].settings["warmup"] == 0
    assert first["backprop-prior-wc"].settings["warmup"] == 100
    assert first["backprop-prior-wc"].settings["cosine_annealing"] is True
    practical = {job.method: job for job in plan_jobs("multiclass", kmeans={"max_samples": 4096, "n_init": None})}
    assert practical["kmeans-raw-k2"].settings["max_samples"] == 4096
    assert "n_init" not in practical["kmeans-raw-k2"].settings
    assert practical["kmeans-raw-k2"].key != first["kmeans-raw-k2"].key


def test_foreground_benchmark_scores_resumes_and_shares_the_prior(ecssd, tmp_path, monkeypatch):
    from napari_dsp import prior as prior_module

    calls = []
    real_prior = prior_module.deep_segmentation_prior

    def counting_prior(*args, **kwargs):
        calls.append(kwargs)
        return real_prior(*args, **kwargs)

    monkeypatch.setattr(prior_module, "deep_segmentation_prior", counting_prior)
    dataset = load_dataset("ecssd", ecssd)
    out = tmp_path / "out"
    jobs = plan_jobs("foreground", prior=TINY_PRIOR, window=3)
    records = run_benchmark(dataset, out, jobs, device="cpu")
    assert len(records) == 2 * len(jobs)
    assert len(calls) == 2  # one prior per image, shared by every method that needs it
    assert len(list((out / "priors").glob("*/*.npz"))) == 2

    by_method = {}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    truth_share = [square_scene(i)[1].mean() for i in range(2)]
    np.testing.assert_allclose([r["metrics"]["iou"] for r in by_method["blank"]], truth_share)
    # The square is easy: KMeans on the raw image finds it exactly or nearly.
    assert min(r["metrics"]["iou"] for r in by_method["kmeans-raw"]) > 0.9
    assert all(r["prior_seconds"] > 0 for r in by_method["kmeans-prior"])
    assert all(r["prior_seconds"] is None for r in by_method["kmeans-raw"])

    lines_before = (out / "ecssd.jsonl").read_text()
    again = run_benchmark(dataset, out, jobs, device="cpu")
    assert len(calls) == 2 and (out / "ecssd.jsonl").read_text() == lines_before
    assert sorted(r["key"] for r in again) == sorted(r["key"] for r in records)

    rows = summarize(again)
    assert [row["method"] for row in rows] == [job.method for job in jobs]
    assert min(r["metrics"]["iou"] for r in by_method["foreground-raw"]) > 0.9
    assert summarize(again + again[:1]) == rows  # a record written twice counts once
    prior_row = rows[-1]
    assert prior_row["seconds"] >= prior_row["prior_seconds"] > 0
    table = markdown_table(rows)
    assert table.count("\n") == 2 + len(rows)
    assert "| kmeans-prior | 2 |" in table and "prior 2 it x 2" in table


def test_interrupted_run_keeps_finished_records(ecssd, tmp_path, monkeypatch):
    dataset = load_dataset("ecssd", ecssd)
    jobs = plan_jobs("foreground", methods=["blank", "kmeans-raw"], window=3)
    original = benchmark._segment

    def fail_on_second_image(job, image, prior, device):
        if job.method == "kmeans-raw" and len(read_records(tmp_path / "ecssd.jsonl")) >= 3:
            raise KeyboardInterrupt
        return original(job, image, prior, device)

    monkeypatch.setattr(benchmark, "_segment", fail_on_second_image)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(dataset, tmp_path, jobs, device="cpu")
    assert len(read_records(tmp_path / "ecssd.jsonl")) == 3
    with (tmp_path / "ecssd.jsonl").open("a") as sink:
        sink.write('{"dataset": "ecssd", "ima')  # a line cut short by a kill
    monkeypatch.setattr(benchmark, "_segment", original)
    records = run_benchmark(dataset, tmp_path, jobs, device="cpu")
    assert len(records) == 4


def test_multiclass_benchmark_through_the_command_line(bsds, tmp_path, capsys):
    out = tmp_path / "results"
    status = main([
        "benchmark", "--dataset", "bsds500", "--root", str(bsds), "--limit", "1", "--out", str(out),
        "--methods", "blank", "kmeans-raw", "backprop-prior", "--n-clusters", "2", "--window", "3",
        "--prior-iterations", "2", "--prior-restarts", "2", "--backprop-iterations", "3",
        "--n-segments", "20", "--device", "cpu",
    ])
    assert status == 0
    table = capsys.readouterr().out
    assert (out / "bsds500.md").read_text() == table
    rows = {row["method"]: row for row in summarize(read_records(out / "bsds500.jsonl"))}
    assert set(rows) == {"blank", "kmeans-raw-k2", "backprop-prior"}
    # A blank output covers each segment R with IoU |R| / N: covering = sum of (|R| / N)^2.
    shares = [np.bincount(truth.ravel())[1:] / truth.size for truth in annotations(square_scene(0)[1])]
    assert rows["blank"]["covering"] == pytest.approx(np.mean([np.sum(s ** 2) for s in shares]))
    assert rows["kmeans-raw-k2"]["miou_coarse"] > 0.9 > rows["blank"]["miou_coarse"]
    assert rows["kmeans-raw-k2"]["miou_fine"] < rows["kmeans-raw-k2"]["miou_coarse"]
    record = json.loads((out / "bsds500.jsonl").read_text().splitlines()[-1])
    assert record["settings"]["max_iterations"] == 3 and record["settings"]["prior"]["iterations"] == 2
    assert "SLIC 20/10" in table


def test_benchmark_command_reports_a_bad_root(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "ecssd", "--root", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_torn_last_line_does_not_swallow_the_next_record(ecssd, tmp_path):
    dataset = load_dataset("ecssd", ecssd)
    results = tmp_path / "ecssd.jsonl"
    run_benchmark(dataset, tmp_path, plan_jobs("foreground", methods=["blank"]), device="cpu")
    with results.open("a") as sink:
        sink.write('{"dataset": "ecssd", "ima')  # a kill in the middle of a write
    records = run_benchmark(dataset, tmp_path, plan_jobs("foreground", methods=["blank", "kmeans-raw"], window=3),
                            device="cpu")
    on_disk = read_records(results)
    assert len(records) == len(on_disk) == 4
    assert sorted(r["method"] for r in on_disk) == ["blank", "blank", "kmeans-raw", "kmeans-raw"]


def test_a_replaced_image_is_computed_again_with_its_own_prior(ecssd, tmp_path, monkeypatch):
    from napari_dsp import prior as prior_module

    images = []
    real_prior = prior_module.deep_segmentation_prior
    monkeypatch.setattr(prior_module, "deep_segmentation_prior",
                        lambda image, **kwargs: images.append(image) or real_prior(image, **kwargs))
    dataset = load_dataset("ecssd", ecssd)
    jobs = plan_jobs("foreground", methods=["blank", "kmeans-prior"], prior=TINY_PRIOR, window=3)
    first = {(r["image"], r["method"]): r for r in run_benchmark(dataset, tmp_path, jobs, device="cpu")}
    assert len(images) == 2

    # Same name, other picture and mask: the cached prior and the records of the old one must not be reused.
    image, mask = square_scene(5)
    iio.imwrite(ecssd / "images" / "0001.png", image)
    iio.imwrite(ecssd / "masks" / "0001.png", mask.astype(np.uint8) * 255)
    again = {(r["image"], r["method"]): r for r in run_benchmark(dataset, tmp_path, jobs, device="cpu")}

    assert len(images) == 3 and np.array_equal(images[-1], image)
    assert again[("0000", "kmeans-prior")] == first[("0000", "kmeans-prior")]
    assert again[("0001", "blank")]["image_sha"] != first[("0001", "blank")]["image_sha"]
    assert again[("0001", "blank")]["metrics"]["iou"] == pytest.approx(mask.mean())
    rows = {row["method"]: row for row in summarize(read_records(tmp_path / "ecssd.jsonl"))}
    assert rows["blank"]["iou"] == pytest.approx(np.mean([square_scene(0)[1].mean(), mask.mean()]))


def test_a_corrupt_image_is_recorded_as_failed_and_the_run_goes_on(ecssd, tmp_path, capsys):
    (ecssd / "images" / "0000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    argv = ["benchmark", "--dataset", "ecssd", "--root", str(ecssd), "--out", str(out),
            "--methods", "blank", "kmeans-raw", "--window", "3", "--device", "cpu"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| blank | 1 | 1 |" in table and "| kmeans-raw | 1 | 1 |" in table
    assert "Failed (1 image(s), not in the means):\n- 0000: 0000.png: cannot read it as an image" in table
    failed = [r for r in read_records(out / "ecssd.jsonl") if "error" in r]
    assert [r["method"] for r in failed] == ["blank", "kmeans-raw"]

    # Mended, the image is scored on the next run; the failures are not counted any more.
    image, _ = square_scene(0)
    iio.imwrite(ecssd / "images" / "0000.png", image)
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| blank | 2 | 0 |" in table and "Failed" not in table


def test_summary_of_only_failed_records_shows_dashes():
    records = [{"image": "a", "method": "blank", "key": "k", "settings": {}, "error": "a.png: broken"}]
    rows = summarize(records)
    assert rows[0]["images"] == 0 and rows[0]["failed"] == [("a", "a.png: broken")]
    assert "| blank | 0 | 1 | - | - | - | - | - | - |" in markdown_table(rows)


@pytest.mark.parametrize("n_clusters", [[2.5], [True], [0], []])
def test_plan_refuses_numbers_of_classes_that_are_not_positive_integers(n_clusters):
    with pytest.raises(ValueError, match=r"n_clusters=.* must be one or more positive integers"):
        plan_jobs("multiclass", n_clusters=n_clusters)
