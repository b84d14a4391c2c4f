"""Figure grids a reader can judge by eye: the quality methods (docs/results.md) and the Double-DIP comparison.

``quality`` draws, for the first N images of an ECSSD folder and of a BSDS500
folder: input, prior, the prior's saliency, the foreground mask (hybrid: the cut
on the image); and input, prior, regions (on the image, as `segment` runs
them), a human segmentation.
``doubledip`` draws the paper's figure 7 layout for N ECSSD images: input,
prior, the paper's DSP + KMeans mask, Double-DIP's mask (hinted by our
saliency). Every setting is the library's default for the named preset::

    python benchmarks/figure_grids.py quality --ecssd ../shared/data/ecssd-dev --bsds ../shared/data/bsds500-val
    python benchmarks/figure_grids.py doubledip --ecssd ../shared/data/ecssd-dev --count 6
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage.color import label2rgb  # noqa: E402
from skimage.segmentation import mark_boundaries  # noqa: E402

from napari_dsp.doubledip import double_dip_segmentation  # noqa: E402
from napari_dsp.evaluation.datasets import load_dataset  # noqa: E402
from napari_dsp.evaluation.metrics import foreground_iou  # noqa: E402
from napari_dsp.foreground import foreground_segmentation  # noqa: E402
from napari_dsp.kmeans import foreground_background  # noqa: E402
from napari_dsp.prior import deep_segmentation_prior  # noqa: E402
from napari_dsp.regions import region_segmentation  # noqa: E402


def _show(ax, image, title):
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def _unit(image):
    image = np.asarray(image, np.float64)
    return (image - image.min()) / max(np.ptp(image), 1e-12)


def quality(args):
    ecssd = load_dataset("ecssd", args.ecssd, limit=args.count)
    bsds = load_dataset("bsds500", args.bsds, limit=args.count)
    figure, axes = plt.subplots(2 * args.count, 4, figsize=(8, 4.2 * args.count))
    for row, sample in enumerate(ecssd):
        prior = deep_segmentation_prior(sample.image, channel_axis=-1, preset=args.preset, seed=0)
        found = foreground_segmentation(sample.image, prior=prior, channel_axis=-1, seed=0)
        iou = foreground_iou(found.mask, sample.truths[0])
        for ax, image, title in zip(axes[row], (sample.image, _unit(prior), found.saliency, found.mask),
                                    (f"ECSSD {sample.name}", f"prior ({args.preset})", "saliency of the prior",
                                     f"foreground, IoU {iou:.2f}")):
            _show(ax, image, title)
    for row, sample in enumerate(bsds, start=args.count):
        prior = deep_segmentation_prior(sample.image, channel_axis=-1, preset=args.preset, seed=0)
        labels = region_segmentation(sample.image, channel_axis=-1, seed=0)
        overlay = mark_boundaries(label2rgb(labels, _unit(sample.image), kind="avg"), labels, color=(1, 1, 0))
        truth = sample.truths[0]
        for ax, image, title in zip(axes[row], (sample.image, _unit(prior), overlay,
                                                mark_boundaries(_unit(sample.image), truth, color=(0, 1, 1))),
                                    (f"BSDS500 {sample.name}", f"prior ({args.preset})",
                                     f"regions ({np.unique(labels).size})", "a human segmentation")):
            _show(ax, image, title)
    return figure


def doubledip(args):
    ecssd = load_dataset("ecssd", args.ecssd, limit=args.count)
    figure, axes = plt.subplots(args.count, 4, figsize=(8, 2.1 * args.count))
    for row, sample in enumerate(ecssd):
        prior = deep_segmentation_prior(sample.image, channel_axis=-1, preset=args.preset, seed=0)
        dsp = foreground_background(prior, channel_axis=-1, seed=0, rule="border")
        start = time.perf_counter()
        dd = double_dip_segmentation(sample.image, channel_axis=-1, seed=0).mask
        seconds = time.perf_counter() - start
        truth = sample.truths[0]
        for ax, image, title in zip(axes[row], (sample.image, _unit(prior), dsp, dd), (
                f"ECSSD {sample.name}", f"prior ({args.preset})",
                f"DSP + KMeans, IoU {foreground_iou(dsp, truth):.2f}",
                f"Double-DIP, IoU {foreground_iou(dd, truth):.2f}, {seconds:.0f} s")):
            _show(ax, image, title)
    return figure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", choices=("quality", "doubledip"))
    parser.add_argument("--ecssd", type=Path, required=True, help="ECSSD folder (images/, masks/)")
    parser.add_argument("--bsds", type=Path, help="BSDS500 folder, for the quality grid")
    parser.add_argument("--count", type=int, default=4, help="images per dataset (default: 4)")
    parser.add_argument("--preset", default="fast", help="prior preset (default: fast)")
    parser.add_argument("--out", type=Path, help="PNG file (default: docs/images/<grid>.png)")
    args = parser.parse_args(argv)
    figure = quality(args) if args.grid == "quality" else doubledip(args)
    figure.tight_layout()
    out = args.out or Path(__file__).resolve().parent.parent / "docs" / "images" / f"{args.grid}.png"
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
