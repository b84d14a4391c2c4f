"""The DSP paper's ablation of the backpropagation segmenter (section 6.1) on BSDS500.

Runs the five settings of figure 11 (original; +prior; +prior +warm-up;
+prior +cosine; all three) on the first images of a BSDS500 folder, with the
same seed for every setting, and writes a Markdown report: labels, iterations,
run time and DFC mIoU ("All", the protocol of Kim et al. 2020) per setting.
Each image's prior (100 iterations, 10 restarts) is computed once and cached.
Example::

    python benchmarks/backprop_ablation.py ../shared/data/bsds500-val --images 10 --scale 0.25 \\
        --prior-scale 0.25 --n-features 32 --max-iterations 200 --out docs/backprop-ablation.md
"""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.transform import rescale, resize

from napari_dsp.backprop import backprop_segmentation
from napari_dsp.evaluation.datasets import load_dataset
from napari_dsp.evaluation.metrics import dfc_score
from napari_dsp.prior import deep_segmentation_prior

SETTINGS = {
    "original (SLIC on image)": dict(prior=False, warmup=0, cosine_annealing=False),
    "+prior": dict(prior=True, warmup=0, cosine_annealing=False),
    "+prior +warm-up": dict(prior=True, warmup=100, cosine_annealing=False),
    "+prior +cosine": dict(prior=True, warmup=0, cosine_annealing=True),
    "all three": dict(prior=True, warmup=100, cosine_annealing=True),
}


def cached_prior(sample, cache, seed, scale):
    """The image's prior (100 iterations, 10 restarts), fitted at `scale` of its size and resized back."""
    path = Path(cache) / f"{sample.name}_prior_it100_r10_seed{seed}_scale{scale}.npy"
    if path.exists():
        return np.load(path)
    image = sample.image
    if scale < 1:
        image = rescale(image, scale, channel_axis=-1, anti_aliasing=True, preserve_range=True)
    prior = deep_segmentation_prior(image, iterations=100, restarts=10, channel_axis=-1, seed=seed)
    prior = resize(prior, sample.image.shape, order=1).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, prior)
    return prior


def run(dataset, settings, *, scale, prior_scale, n_features, max_iterations, seed, cache, log):
    """Yield (image name, setting, labels count, iterations, seconds, best IoUs of all truth segments)."""
    for sample in dataset:
        prior = cached_prior(sample, cache, seed, prior_scale)
        for name, setting in settings.items():
            steps = []
            start = time.perf_counter()
            labels = backprop_segmentation(
                sample.image, guide=prior if setting["prior"] else None, warmup=setting["warmup"],
                cosine_annealing=setting["cosine_annealing"], scale=scale, n_features=n_features,
                max_iterations=max_iterations, channel_axis=-1, seed=seed, callback=lambda p: steps.append(p.step))
            seconds = time.perf_counter() - start
            row = (sample.name, name, len(np.unique(labels)), len(steps), seconds, dfc_score(labels, sample.truths).all)
            print(f"{row[0]} {name}: {row[2]} labels, {row[3]} iterations, {seconds:.1f} s, "
                  f"mIoU {row[5].mean():.3f}", file=log, flush=True)
            yield row


def report(rows, blank, args, command):
    lines = [
        "# Backpropagation segmenter: the paper's ablation on BSDS500",
        "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end), "
        f"torch {torch.__version__} on CPU, threads: {torch.get_num_threads()}.",
        "",
        f"Practical mode for CPU: fitted at scale={args.scale} of 481 x 321, n_features={args.n_features}, "
        f"max_iterations={args.max_iterations} (the paper: full size, 100 features, 1000), min_labels=3, "
        f"SLIC 1000 segments / compactness 10, seed {args.seed}; the prior: 100 iterations, 10 restarts, computed "
        f"once per image at scale={args.prior_scale} of its size and resized back. Warm-up adds 100 iterations "
        "before the main loop.",
        "",
        "| setting | labels, median (range) | iterations, mean | s per image, mean | mIoU All |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in SETTINGS:
        mine = [row for row in rows if row[1] == name]
        if not mine:
            continue
        counts = [row[2] for row in mine]
        ious = np.concatenate([row[5] for row in mine])
        lines.append(
            f"| {name} | {np.median(counts):g} ({min(counts)}-{max(counts)}) | "
            f"{np.mean([row[3] for row in mine]):.0f} | {np.mean([row[4] for row in mine]):.1f} | {ious.mean():.3f} |"
        )
    lines += [
        f"| blank output (one label) | 1 | - | - | {np.concatenate(blank).mean():.3f} |",
        "",
        f"{len(blank)} images: {', '.join(sorted({row[0] for row in rows}))}. mIoU All: every ground-truth segment of "
        "every annotator gets the IoU of the best-overlapping connected component of the prediction; mean over all "
        "segments of all images (`napari_dsp.evaluation.metrics.dfc_score`). Run times include SLIC, not the prior; they were "
        "taken on a machine shared with other jobs and are indicative only.",
        "",
        "Per image (labels / mIoU):",
        "",
        "| image | " + " | ".join(SETTINGS) + " |",
        "| --- |" + " --- |" * len(SETTINGS),
    ]
    for image in sorted({row[0] for row in rows}):
        cells = {row[1]: f"{row[2]} / {row[5].mean():.3f}" for row in rows if row[0] == image}
        lines.append(f"| {image} | " + " | ".join(cells.get(name, "-") for name in SETTINGS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="BSDS500 folder (holding images/ and groundTruth/)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--prior-scale", type=float, default=1.0,
                        help="fit the prior at this fraction of the image's size (CPU time), then resize it back")
    parser.add_argument("--n-features", type=int, default=100)
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="/tmp/napari-dsp-priors", help="folder for the cached priors")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), metavar="NAME",
                        help=f"settings to run (default: all): {'; '.join(SETTINGS)}")
    parser.add_argument("--out", help="Markdown file to write (default: print)")
    args = parser.parse_args(argv)
    dataset = load_dataset("bsds500", args.root, limit=args.images)
    settings = {name: SETTINGS[name] for name in args.settings}
    rows = list(run(dataset, settings, scale=args.scale, prior_scale=args.prior_scale, n_features=args.n_features,
                    max_iterations=args.max_iterations, seed=args.seed, cache=args.cache, log=sys.stderr))
    blank = [dfc_score(np.ones(sample.truths[0].shape, np.int32), sample.truths).all for sample in dataset]
    text = report(rows, blank, args, "python " + " ".join(sys.argv))
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
