"""Readers for the two evaluation datasets' folder layouts (no data is shipped).

* BSDS500 [1]_: ``images/*.jpg`` and ``groundTruth/*.mat`` (a MATLAB cell
  array ``groundTruth`` with one struct per annotator whose ``Segmentation``
  field holds labels from 1). The original archive's layout
  ``BSR/BSDS500/data/{images,groundTruth}/<split>/`` is found as well.
* ECSSD [2]_: ``images/*.jpg`` and ``masks/*.png`` (0 = background, 255 =
  object); the original archive's ``ground_truth_mask/`` folder works too.

Both datasets carry non-commercial research terms: download them yourself
and pass their folder.

References
----------
.. [1] P. Arbelaez, M. Maire, C. Fowlkes and J. Malik, "Contour Detection and
       Hierarchical Image Segmentation", IEEE TPAMI 33(5), 2011.
.. [2] Q. Yan, L. Xu, J. Shi and J. Jia, "Hierarchical Saliency Detection",
       CVPR 2013.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._image import is_int

__all__ = ["DATASETS", "Dataset", "Sample", "SampleError", "load_dataset"]

DATASETS = ("bsds500", "ecssd")

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class SampleError(ValueError):
    """An image or ground-truth file of a dataset that cannot be read, or that do not match."""


# What the decoders raise on a damaged file: PIL a SyntaxError for a broken PNG, imageio an OSError
# when no plugin accepts the bytes, scipy a MatReadError (or a KeyError, IndexError, TypeError for
# a .mat file of another layout).
def _read_errors():
    from scipy.io.matlab import MatReadError

    return (OSError, SyntaxError, ValueError, KeyError, IndexError, TypeError, MatReadError)


def _first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


@dataclass(frozen=True)
class Sample:
    """One image of a dataset with its ground truth.

    Attributes
    ----------
    name : str
        The image's file stem, unique within its dataset.
    image : (M, N, 3) uint8 ndarray
        The image, RGB.
    truths : tuple of (M, N) ndarray
        BSDS500: one int32 label map per annotator (labels from 1).
        ECSSD: a single boolean foreground mask.
    """

    name: str
    image: np.ndarray
    truths: tuple


@dataclass(frozen=True)
class Dataset:
    """An evaluation dataset on disk, read one sample at a time.

    Attributes
    ----------
    name : {"bsds500", "ecssd"}
        Which dataset, hence which ground-truth format and task.
    images : tuple of pathlib.Path
        Image files, sorted by name.
    truth_dir : pathlib.Path
        Folder of the ground-truth files (same stems as the images).
    """

    name: str
    images: tuple
    truth_dir: Path

    @property
    def task(self) -> str:
        """``"foreground"`` (one binary mask per image) or ``"multiclass"`` (several annotators)."""
        return "foreground" if self.name == "ecssd" else "multiclass"

    @property
    def names(self) -> list:
        """Image names (file stems), in order."""
        return [path.stem for path in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def truth_path(self, index: int) -> Path:
        """The ground-truth file of image `index`."""
        suffix = ".png" if self.name == "ecssd" else ".mat"
        return self.truth_dir / f"{self.images[index].stem}{suffix}"

    def digests(self, index: int) -> tuple:
        """Hashes of the bytes of image `index`'s file and of its ground-truth file (16 hex digits each).

        They tell a replaced file from the one results were computed on
        without decoding either.

        Raises
        ------
        SampleError
            If a file cannot be read.
        """
        try:
            return tuple(hashlib.sha1(path.read_bytes()).hexdigest()[:16]
                         for path in (self.images[index], self.truth_path(index)))
        except OSError as error:
            raise SampleError(f"{self.images[index].name}: {_first_line(error)}") from error

    def __getitem__(self, index: int) -> Sample:
        """Read image `index` and its ground truth.

        Raises
        ------
        SampleError
            If either file cannot be decoded, the image is not 2-D grey or
            RGB(A), or the ground truth's shape differs from the image's.
        """
        import imageio.v3 as iio

        path = self.images[index]
        try:
            image = np.asarray(iio.imread(path))
        except _read_errors() as error:
            raise SampleError(f"{path.name}: cannot read it as an image ({_first_line(error)})") from error
        if image.ndim == 3 and image.shape[-1] in (1, 2, 3, 4) and 0 not in image.shape:
            # Alpha is dropped; grey (with or without alpha) becomes three equal channels.
            image = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image[..., :1], 3, axis=-1)
        elif image.ndim == 2 and 0 not in image.shape:
            image = np.repeat(image[..., np.newaxis], 3, axis=-1)
        else:
            raise SampleError(f"{path.name}: expected a 2-D grey or RGB(A) image, got an array of shape {image.shape}")
        truth_path = self.truth_path(index)
        try:
            truths = (_read_mask(truth_path),) if self.name == "ecssd" else _read_bsds_truth(truth_path)
        except _read_errors() as error:
            raise SampleError(f"{truth_path.name}: cannot read the ground truth ({_first_line(error)})") from error
        for truth in truths:
            if truth.shape != image.shape[:2]:
                raise SampleError(
                    f"ground truth of {path.name} has shape {truth.shape} but the image is "
                    f"{image.shape[:2]}; the dataset folder looks damaged"
                )
        return Sample(path.stem, image, truths)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _read_mask(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    mask = np.asarray(iio.imread(path))
    if mask.ndim == 3:
        mask = mask[..., 0]
    return mask > mask.max() / 2 if mask.max() > 0 else np.zeros(mask.shape, bool)


def _read_bsds_truth(path: Path) -> tuple:
    from scipy.io import loadmat

    cell = loadmat(path)["groundTruth"].ravel()
    return tuple(np.asarray(entry["Segmentation"][0, 0], dtype=np.int32) for entry in cell)


def _first_existing(candidates):
    return next((path for path in candidates if path.is_dir()), None)


def load_dataset(name: str, root, *, split: str = "val", offset=0, limit=None) -> Dataset:
    """Find a dataset's images and ground truth under `root`.

    Parameters
    ----------
    name : {"bsds500", "ecssd"}
        Which dataset.
    root : str or path-like
        Its folder: the one holding ``images/`` (or, for BSDS500, the
        extracted archive, which holds ``BSR/BSDS500/data``).
    split : str, optional
        BSDS500 split ("train", "val" or "test") used when the images are
        stored per split as in the original archive.
    offset : int, optional
        Skip this many images first (sorted by name), e.g. to split a
        benchmark between processes.
    limit : int, optional
        Keep at most `limit` images after the skipped ones.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If `name` is unknown, the folders are missing or an image has no
        ground-truth file.

    Examples
    --------
    >>> data = load_dataset("ecssd", "path/to/ecssd")  # doctest: +SKIP
    >>> sample = data[0]  # doctest: +SKIP
    >>> sample.image.shape, sample.truths[0].dtype  # doctest: +SKIP
    ((400, 267, 3), dtype('bool'))
    """
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not known; use one of {', '.join(DATASETS)}")
    if limit is not None and not (is_int(limit) and limit >= 1):
        raise ValueError(f"limit={limit!r} must be a positive integer (images), or None for all")
    if not (is_int(offset) and offset >= 0):
        raise ValueError(f"offset={offset!r} must be an integer >= 0 (images to skip)")
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder {str(root)!r} does not exist; pass the folder that holds images/")
    bases = [root, root / "data", root / "BSR" / "BSDS500" / "data"]
    if name == "ecssd":
        image_dir = _first_existing([root / "images"])
        truth_dir = _first_existing([root / "masks", root / "ground_truth_mask"])
        truth_suffix = ".png"
    else:
        image_dir = _first_existing(
            [base / "images" / split for base in bases] + [base / "images" for base in bases]
        )
        truth_dir = _first_existing(
            [base / "groundTruth" / split for base in bases] + [base / "groundTruth" for base in bases]
        )
        truth_suffix = ".mat"
    if image_dir is None or truth_dir is None:
        expected = "images/ and masks/" if name == "ecssd" else "images/ and groundTruth/"
        raise ValueError(f"no {name} layout under {str(root)!r}: expected the folders {expected}")
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"no .jpg or .png images in {str(image_dir)!r}")
    missing = [p.name for p in images if not (truth_dir / f"{p.stem}{truth_suffix}").is_file()]
    if missing:
        raise ValueError(
            f"{len(missing)} image(s) have no ground truth in {str(truth_dir)!r}, e.g. {missing[0]}"
        )
    if offset >= len(images):
        raise ValueError(f"offset={offset} skips all {len(images)} images; use a smaller offset")
    images = images[offset:] if limit is None else images[offset:offset + limit]
    return Dataset(name, tuple(images), truth_dir)
