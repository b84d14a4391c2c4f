"""The region method's trade-off on BSDS500: DFC-protocol mIoU against segmentation covering.

For each ``THRESHOLD:MIN_SIZE`` setting, runs
`napari_dsp.regions.region_segmentation` on every image (the raw image, or
with ``--prior-cache`` the priors that ``napari-dsp benchmark`` cached in
``OUT/priors``, or a folder of ``<name>.npy`` priors) and prints one
Markdown row: All mIoU (8-connected components, `dfc_score`'s default),
covering, mean number of labels and seconds per image. With ``--bins`` it also
prints, per setting, the mean best IoU of the ground-truth segments grouped by
their share of the image: the protocol averages over *segments*, and most of
BSDS500's are tiny. Example::

    .venv/bin/python benchmarks/regions_frontier.py ../shared/data/bsds500-val 20:0.002 20:0.0002 --bins
"""

import argparse
import itertools
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

BINS = (0.0, 0.002, 0.01, 0.05, 0.2, 1.0 + 1e-9)


def parse(text):
    try:
        threshold, min_size = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not THRESHOLD:MIN_SIZE, e.g. 20:0.002") from None
    return threshold, min_size


def load_prior(folder, name):
    """The prior of image `name`: ``<name>.npy``, or the benchmark's cached ``<name>-<key>.npz``."""
    if (folder / f"{name}.npy").exists():
        return np.load(folder / f"{name}.npy")
    found = sorted(folder.rglob(f"{name}-*.npz"))
    if len(found) != 1:
        raise SystemExit(f"--prior-cache {folder}: expected one {name}.npy or {name}-*.npz, found {len(found)}")
    return np.load(found[0])["prior"]


def score_image(job):
    """(best IoU per true segment, each segment's share of the image, covering, labels, seconds) of one image."""
    from napari_dsp.evaluation.datasets import load_dataset
    from napari_dsp.evaluation.metrics import dfc_score, segmentation_covering
    from napari_dsp.regions import region_segmentation

    sample = load_dataset("bsds500", job["root"], offset=job["index"], limit=1)[0]
    image = sample.image if job["cache"] is None else load_prior(Path(job["cache"]), sample.name)
    start = time.perf_counter()
    labels = region_segmentation(image, channel_axis=-1, threshold=job["threshold"], min_size=job["min_size"])
    seconds = time.perf_counter() - start
    shares = np.concatenate([np.unique(truth, return_counts=True)[1] / truth.size for truth in sample.truths])
    return (dfc_score(labels, sample.truths).all, shares, segmentation_covering(labels, sample.truths),
            int(labels.max()), seconds)


def main(argv=None):
    from napari_dsp.evaluation.datasets import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="BSDS500 folder (holding images/ and groundTruth/)")
    parser.add_argument("settings", nargs="+", type=parse, metavar="THRESHOLD:MIN_SIZE")
    parser.add_argument("--images", type=int, default=None, help="first N images (default: all)")
    parser.add_argument("--prior-cache", default=None,
                        help="segment priors instead: a benchmark's OUT/priors folder, or <name>.npy files")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--bins", action="store_true", help="also print IoU by ground-truth segment size")
    args = parser.parse_args(argv)
    count = len(load_dataset("bsds500", args.root, limit=args.images))
    print("| threshold | min_size | All mIoU | covering | labels | s / image |")
    print("| --- | --- | --- | --- | --- | --- |")
    bins = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for threshold, min_size in args.settings:
            jobs = [{"root": args.root, "index": i, "cache": args.prior_cache, "threshold": threshold,
                     "min_size": min_size} for i in range(count)]
            rows = list(pool.map(score_image, jobs))
            ious = np.concatenate([row[0] for row in rows])
            print(f"| {threshold:g} | {min_size:g} | {ious.mean():.3f} | {np.mean([r[2] for r in rows]):.3f} "
                  f"| {np.mean([r[3] for r in rows]):.1f} | {np.mean([r[4] for r in rows]):.2f} |", flush=True)
            bins.append((threshold, min_size, ious, np.concatenate([row[1] for row in rows])))
    if args.bins:
        print("\n| threshold:min_size | " + " | ".join(
            f"segments {lo:g}-{min(hi, 1):g} of the image" for lo, hi in itertools.pairwise(BINS)) + " |")
        print("| --- |" + " --- |" * (len(BINS) - 1))
        for threshold, min_size, ious, shares in bins:
            cells = []
            for lo, hi in itertools.pairwise(BINS):
                inside = (shares >= lo) & (shares < hi)
                cells.append(f"{ious[inside].mean():.3f} ({inside.mean():.0%} of segments)")
            print(f"| {threshold:g}:{min_size:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
