from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.io import savemat

from napari_dsp.evaluation.datasets import SampleError, load_dataset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_bsds(folder, names, shape=(6, 8), annotators=3):
    (folder / "images").mkdir(parents=True)
    (folder / "groundTruth").mkdir()
    truths = {}
    for i, name in enumerate(names):
        iio.imwrite(folder / "images" / f"{name}.png", np.full(shape + (3,), 10 * i, np.uint8))
        segs = [np.full(shape, 1, np.uint16) + (np.arange(shape[1]) >= k + 2) for k in range(annotators)]
        cell = np.empty((1, annotators), dtype=object)
        for k, seg in enumerate(segs):
            cell[0, k] = {"Segmentation": seg, "Boundaries": np.zeros(shape, np.uint8)}
        savemat(folder / "groundTruth" / f"{name}.mat", {"groundTruth": cell})
        truths[name] = segs
    return truths


def test_bsds_layout_reads_every_annotator(tmp_path):
    truths = write_bsds(tmp_path, ["b", "a"])
    data = load_dataset("bsds500", tmp_path)
    assert data.task == "multiclass"
    assert data.names == ["a", "b"]
    sample = data[0]
    assert sample.image.shape == (6, 8, 3) and sample.image.dtype == np.uint8
    assert len(sample.truths) == 3
    for got, expected in zip(sample.truths, truths["a"]):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)


def test_original_bsds_archive_layout_and_limit(tmp_path):
    base = tmp_path / "arch"
    for split, names in [("val", ["v1", "v2", "v3"]), ("test", ["t1"])]:
        split_root = tmp_path / f"layout-{split}"
        write_bsds(split_root, names)
        target = base / "BSR" / "BSDS500" / "data"
        (target / "images").mkdir(parents=True, exist_ok=True)
        (target / "groundTruth").mkdir(parents=True, exist_ok=True)
        (split_root / "images").rename(target / "images" / split)
        (split_root / "groundTruth").rename(target / "groundTruth" / split)
    assert load_dataset("bsds500", base).names == ["v1", "v2", "v3"]
    assert load_dataset("bsds500", base, split="test").names == ["t1"]
    assert len(load_dataset("bsds500", base, limit=2)) == 2
    assert load_dataset("bsds500", base, offset=1, limit=1).names == ["v2"]
    with pytest.raises(ValueError, match="skips all 3"):
        load_dataset("bsds500", base, offset=3)


def test_ecssd_masks_become_boolean(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    mask = np.zeros((5, 7), np.uint8)
    mask[1:3, 2:5] = 255
    iio.imwrite(tmp_path / "images" / "0001.png", np.zeros((5, 7, 3), np.uint8))
    iio.imwrite(tmp_path / "masks" / "0001.png", mask)
    data = load_dataset("ecssd", tmp_path)
    assert data.task == "foreground"
    (truth,) = data[0].truths
    assert truth.dtype == bool
    np.testing.assert_array_equal(truth, mask > 0)


def test_missing_ground_truth_and_bad_arguments_are_reported(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    iio.imwrite(tmp_path / "images" / "0001.png", np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(ValueError, match="no ground truth"):
        load_dataset("ecssd", tmp_path)
    with pytest.raises(ValueError, match="not known"):
        load_dataset("voc", tmp_path)
    with pytest.raises(ValueError, match="groundTruth"):
        load_dataset("bsds500", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset("ecssd", tmp_path / "nowhere")


@pytest.mark.skipif(not (SHARED_DATA / "bsds500-val").is_dir(), reason="shared BSDS500 copy not present")
def test_real_bsds500_sample_has_consistent_shapes():
    sample = load_dataset("bsds500", SHARED_DATA / "bsds500-val", limit=1)[0]
    assert sample.image.shape[2] == 3
    assert len(sample.truths) >= 4
    assert all(t.shape == sample.image.shape[:2] and t.min() == 1 for t in sample.truths)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: (root / "images" / "a.png").write_bytes(b"not a png"), r"^a\.png: cannot read it as an image \("),
        (lambda root: (root / "images" / "a.png").write_bytes((root / "images" / "a.png").read_bytes()[:40]),
         r"^a\.png: cannot read it as an image \("),
        (lambda root: (root / "groundTruth" / "a.mat").write_bytes(b"garbage"),
         r"^a\.mat: cannot read the ground truth"),
        (lambda root: savemat(root / "groundTruth" / "a.mat", {"other": 1}), r"^a\.mat: cannot read the ground truth"),
        (lambda root: iio.imwrite(root / "images" / "a.png", np.zeros((4, 4, 3), np.uint8)),
         "ground truth of a.png has shape"),
        (lambda root: iio.imwrite(root / "images" / "a.png", np.zeros((2, 6, 8, 3), np.uint8)),  # animated PNG
         r"^a\.png: expected a 2-D grey or RGB\(A\) image, got an array of shape \(2, 6, 8, 3\)"),
    ],
)
def test_damaged_files_raise_one_line_sample_errors(tmp_path, damage, message):
    write_bsds(tmp_path, ["a"])
    data = load_dataset("bsds500", tmp_path)
    before = data.digests(0)
    damage(tmp_path)
    with pytest.raises(SampleError, match=message) as info:
        data[0]
    assert "\n" not in str(info.value)
    assert data.digests(0) != before


def test_a_vanished_image_is_a_sample_error(tmp_path):
    write_bsds(tmp_path, ["a"])
    data = load_dataset("bsds500", tmp_path)
    (tmp_path / "images" / "a.png").unlink()
    with pytest.raises(SampleError, match=r"^a\.png: FileNotFoundError"):
        data.digests(0)


@pytest.mark.parametrize("options, message", [({"limit": True}, "limit=True"), ({"limit": 0}, "limit=0"),
                                              ({"offset": 1.5}, "offset=1.5"), ({"offset": -1}, "offset=-1")])
def test_limit_and_offset_must_be_integers(tmp_path, options, message):
    write_bsds(tmp_path, ["a"])
    with pytest.raises(ValueError, match=message):
        load_dataset("bsds500", tmp_path, **options)
