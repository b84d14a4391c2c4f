"""Seconds per training iteration of `backprop_segmentation` for each speed option.

Times real runs of the public function on one image (the time between two
iterations: forward, superpixel vote, cross-entropy, backward, SGD), after one
untimed iteration, and prints a Markdown table. Example (the image is 481 x 321 for BSDS500)::

    python benchmarks/backprop_timing.py ../shared/data/bsds500-val/images/100007.jpg --threads 1
    python benchmarks/backprop_timing.py ../shared/data/bsds500-val/images/101085.jpg --variants reference
"""

import argparse
import platform
import time

import numpy as np
import torch
from skimage.io import imread

from napari_dsp.backprop import backprop_segmentation

VARIANTS = [
    # name, options of backprop_segmentation
    ("reference (100 features, full size, float32)", {}),
    ("bfloat16 autocast", {"precision": "bfloat16"}),
    ("scale=0.5", {"scale": 0.5}),
    ("scale=0.25", {"scale": 0.25}),
    ("n_features=50", {"n_features": 50}),
    ("n_features=32", {"n_features": 32}),
    ("scale=0.5, n_features=50", {"scale": 0.5, "n_features": 50}),
    ("scale=0.5, n_features=32 (the fast preset)", {"scale": 0.5, "n_features": 32}),
]


def time_variant(image, options, repeats):
    """Median seconds between consecutive iterations of a real run (the first, with SLIC, not counted)."""
    stamps = []
    backprop_segmentation(
        image, channel_axis=-1, warmup=0, max_iterations=repeats + 1, min_labels=1, seed=0, device="cpu",
        callback=lambda progress: stamps.append(time.perf_counter()), **options,
    )
    return float(np.median(np.diff(stamps)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="an RGB image file")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations per variant (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--variants", nargs="+", metavar="PREFIX",
                        help="run only the variants whose names start with one of these (default: all)")
    args = parser.parse_args(argv)
    variants = [(name, options) for name, options in VARIANTS
                if not args.variants or name.startswith(tuple(args.variants))]
    if not variants:
        parser.error(f"--variants {' '.join(args.variants)} matches none of: {'; '.join(n for n, _ in VARIANTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    image = imread(args.image)[..., :3]
    print(f"image {args.image}, {image.shape[1]} x {image.shape[0]} pixels; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print("\n| variant | s / iteration | relative |\n| --- | --- | --- |")
    reference = None
    for name, options in variants:
        seconds = time_variant(image, options, args.repeats)
        reference = reference or seconds
        print(f"| {name} | {seconds:.3f} | {seconds / reference:.2f} |", flush=True)


if __name__ == "__main__":
    main()
