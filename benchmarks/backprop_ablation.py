"""The DSP paper's ablation of the backpropagation segmenter (section 6.1) on BSDS500.

Runs the settings of figure 11 (original; +prior; +prior +warm-up; +prior
+cosine; all three), "all three" without the prior (what the prior adds to
the practical settings), and the continuity loss of Kim et al. (2020), on the
first images of a BSDS500 folder with the same seed for every setting, and
writes a Markdown report: labels, iterations, run time and DFC mIoU ("All",
the protocol of Kim et al. 2020) per setting. Each image's prior (the
multi-class prior of ``--prior-preset``) is computed once and cached. Rows are
appended to a JSON-lines file as they finish, so an interrupted run resumes.
Example (the practical settings of the ``fast`` preset, two processes)::

    python benchmarks/backprop_ablation.py ../shared/data/bsds500-val --images 50 --preset fast \\
        --prior-preset fast --jobs 2 --rows ablation.jsonl --out docs/backprop-ablation.md
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SETTINGS = {
    "original (SLIC on image)": dict(prior=False, warmup=0, cosine_annealing=False),
    "+prior": dict(prior=True, warmup=0, cosine_annealing=False),
    "+prior +warm-up": dict(prior=True, warmup=100, cosine_annealing=False),
    "+prior +cosine": dict(prior=True, warmup=0, cosine_annealing=True),
    "all three": dict(prior=True, warmup=100, cosine_annealing=True),
    "warm-up +cosine, SLIC on image (all three without the prior)": dict(prior=False, warmup=100,
                                                                         cosine_annealing=True),
    "all three, continuity loss (no SLIC)": dict(prior=True, warmup=100, cosine_annealing=True, continuity=1.0),
}
OPTIONS = ("scale", "n_features", "max_iterations")
ORIGINAL, ALL_THREE = "original (SLIC on image)", "all three"
WITHOUT_PRIOR = "warm-up +cosine, SLIC on image (all three without the prior)"
# (first, second, what their difference measures), reported where both have run
COMPARISONS = [
    (ALL_THREE, ORIGINAL, "the paper's options together"),
    ("+prior +warm-up", "+prior", "warm-up"),
    (ALL_THREE, "+prior +warm-up", "cosine schedule"),
    ("+prior", ORIGINAL, "the prior, no other option"),
    (ALL_THREE, WITHOUT_PRIOR, "the prior, with warm-up and cosine"),
    (WITHOUT_PRIOR, ORIGINAL, "warm-up and cosine without the prior"),
]


def cached_prior(sample, cache, seed, preset):
    """The image's multi-class prior of `preset`, computed once."""
    from napari_dsp.prior import deep_segmentation_prior
    from napari_dsp.recipes import get_preset

    recipe = get_preset(preset).multiclass_prior
    averaged = f"_avg{recipe.average_last}" if recipe.average_last != 1 else ""
    path = Path(cache) / (f"{sample.name}_it{recipe.iterations}_r{recipe.restarts}_max{recipe.max_size}"
                          f"{averaged}_seed{seed}.npy")
    if path.exists():
        return np.load(path)
    prior = deep_segmentation_prior(sample.image, preset=preset, iterations=recipe.iterations,
                                    restarts=recipe.restarts, channel_axis=-1, seed=seed, device="cpu")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, prior)
    return prior


def run_image(job):
    """Every pending setting on one image; returns the rows (dicts)."""
    import torch

    from napari_dsp.backprop import backprop_segmentation
    from napari_dsp.evaluation.datasets import load_dataset
    from napari_dsp.evaluation.metrics import dfc_score

    torch.set_num_threads(job["threads"])
    sample = load_dataset("bsds500", job["root"], offset=job["index"], limit=1)[0]
    prior = cached_prior(sample, job["cache"], job["seed"], job["prior_preset"])
    rows = []
    for name in job["settings"]:
        setting = dict(SETTINGS[name])
        use_prior = setting.pop("prior")
        steps = []
        start = time.perf_counter()
        labels = backprop_segmentation(
            sample.image, guide=prior if use_prior else None, preset=job["preset"], channel_axis=-1,
            seed=job["seed"], device="cpu", callback=lambda p: steps.append(p.step), **setting, **job["options"])
        seconds = time.perf_counter() - start
        ious = dfc_score(labels, sample.truths).all
        rows.append(dict(image=sample.name, setting=name, labels=int(len(np.unique(labels))),
                         iterations=len(steps), seconds=round(seconds, 2), ious=ious.round(5).tolist()))
    blank = dfc_score(np.ones(sample.truths[0].shape, np.int32), sample.truths).all
    rows.append(dict(image=sample.name, setting="blank", ious=blank.round(5).tolist()))
    return rows


def comparisons(rows, resamples=5000):
    """Markdown lines: paired differences of the pooled mIoU of `COMPARISONS`, with 95 % bootstrap intervals.

    Only images that both settings ran count; the bootstrap resamples images (seed 0).
    """
    by_setting = {}
    for row in rows:
        by_setting.setdefault(row["setting"], {})[row["image"]] = row
    lines = []
    for first, second, meaning in COMPARISONS:
        images = sorted(set(by_setting.get(first, ())) & set(by_setting.get(second, ())))
        if len(images) < 2:
            continue
        a, b = (np.array([sum(by_setting[name][image]["ious"]) for image in images]) for name in (first, second))
        counts = np.array([len(by_setting[first][image]["ious"]) for image in images])
        draws = np.random.default_rng(0).integers(len(images), size=(resamples, len(images)))
        spread = (a[draws].sum(1) - b[draws].sum(1)) / counts[draws].sum(1)
        low, high = np.percentile(spread, [2.5, 97.5])
        better = sum(np.mean(by_setting[first][i]["ious"]) > np.mean(by_setting[second][i]["ious"]) for i in images)
        lines.append(f"| {first} - {second} ({meaning}) | {(a.sum() - b.sum()) / counts.sum():+.3f} | "
                     f"[{low:+.3f}, {high:+.3f}] | {better} of {len(images)} |")
    if not lines:
        return []
    return ["", "Paired differences of the pooled mIoU All (95 % bootstrap interval over the images), and the images "
            "where the first setting scores higher:", "", "| comparison | difference | 95 % interval | better on |",
            "| --- | --- | --- | --- |", *lines]


def report(rows, args, command):
    from napari_dsp.recipes import get_preset

    recipe = get_preset(args.preset).backprop
    options = {name: getattr(args, name) if getattr(args, name) is not None else getattr(recipe, name)
               for name in OPTIONS}
    prior = get_preset(args.prior_preset).multiclass_prior
    images = sorted({row["image"] for row in rows})
    lines = [
        "# Backpropagation segmenter: the paper's ablation on BSDS500",
        "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {args.jobs} process(es) with {args.threads} torch thread(s) each; "
        f"load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Backprop: preset `{args.preset}` (scale={options['scale']}, n_features={options['n_features']}, "
        f"max_iterations={options['max_iterations']}, SLIC {recipe.n_segments} segments / compactness "
        f"{recipe.compactness}, min_labels={recipe.min_labels}), seed {args.seed}; warm-up adds "
        f"{SETTINGS['all three']['warmup']} iterations before the main loop. The prior: preset "
        f"`{args.prior_preset}` ({prior.iterations} iterations x {prior.restarts} restarts"
        f"{f', fitted at a long side of {prior.max_size} px' if prior.max_size else ''}), computed once per image.",
        "",
        "| setting | images | labels, median (range) | iterations, mean | s per image, mean | mIoU All |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in list(SETTINGS) + ["blank"]:
        mine = [row for row in rows if row["setting"] == name]
        if not mine:
            continue
        ious = np.concatenate([row["ious"] for row in mine])
        if name == "blank":
            lines.append(f"| blank output (one label) | {len(mine)} | 1 | - | - | {ious.mean():.3f} |")
            continue
        counts = [row["labels"] for row in mine]
        lines.append(
            f"| {name} | {len(mine)} | {np.median(counts):g} ({min(counts)}-{max(counts)}) | "
            f"{np.mean([row['iterations'] for row in mine]):.0f} | {np.mean([row['seconds'] for row in mine]):.1f} | "
            f"{ious.mean():.3f} |")
    lines += comparisons(rows)
    lines += [
        "",
        f"{len(images)} images: {', '.join(images)}. mIoU All: every ground-truth segment of every annotator gets "
        "the IoU of the best-overlapping connected component of the prediction; mean over all segments of all "
        "images (`napari_dsp.evaluation.metrics.dfc_score`). Run times include SLIC, not the prior.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    from napari_dsp.evaluation.datasets import load_dataset
    from napari_dsp.recipes import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="BSDS500 folder (holding images/ and groundTruth/)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--offset", type=int, default=0,
                        help="images to skip first (to continue a run whose rows file is lost, on other images)")
    parser.add_argument("--preset", choices=list(PRESETS), default="fast", help="backprop settings")
    parser.add_argument("--prior-preset", choices=list(PRESETS), default="fast", help="the prior's settings")
    for name in OPTIONS:
        kind = float if name == "scale" else int
        parser.add_argument("--" + name.replace("_", "-"), type=kind, help="overrides the preset's value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes, one image each at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--cache", default="/tmp/napari-dsp-priors", help="folder for the cached priors")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), metavar="NAME",
                        help=f"settings to run (default: all): {'; '.join(SETTINGS)}")
    parser.add_argument("--rows", default="backprop-ablation.jsonl",
                        help="JSON-lines file of finished rows; rows already there are not run again")
    parser.add_argument("--out", help="Markdown file to write (default: print)")
    args = parser.parse_args(argv)

    rows_path = Path(args.rows)
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    done = {(row["image"], row["setting"]) for row in rows}
    names = load_dataset("bsds500", args.root, offset=args.offset, limit=args.images).names
    options = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    jobs = []
    for index, name in enumerate(names, start=args.offset):
        pending = [setting for setting in args.settings if (name, setting) not in done]
        if pending:
            jobs.append(dict(root=args.root, index=index, settings=pending, preset=args.preset, options=options,
                             prior_preset=args.prior_preset, seed=args.seed, cache=args.cache,
                             threads=args.threads))
    with ProcessPoolExecutor(args.jobs) as pool, rows_path.open("a") as out:
        for result in pool.map(run_image, jobs):
            for row in result:
                if row["setting"] != "blank" or (row["image"], "blank") not in done:
                    rows.append(row)
                    done.add((row["image"], row["setting"]))
                    out.write(json.dumps(row) + "\n")
                if row["setting"] != "blank":
                    print(f"{row['image']} {row['setting']}: {row['labels']} labels, {row['iterations']} iterations, "
                          f"{row['seconds']:.1f} s, mIoU {np.mean(row['ious']):.3f}", file=sys.stderr, flush=True)
            out.flush()
    wanted = set(names)
    text = report([row for row in rows if row["image"] in wanted and row["setting"] in set(args.settings) | {"blank"}],
                  args, shlex.join(["python", *sys.argv]))
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
