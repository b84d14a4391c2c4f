"""Seconds and peak memory of the prior-free methods on large photos.

A user's phone photo has 12 megapixels or more, where the BSDS500 images the
defaults were chosen on have 0.15. This scales the bundled coffee sample
(400 x 600) up to each size (bilinear, plus seeded +-6 grey-level noise so that
the photo is not unnaturally smooth) and runs each method on the image, each
(method, size) in its own subprocess so that peak memory is its own. Compare a
change by running the same command with ``PYTHONPATH`` pointing at the
checkout before it. Example::

    .venv/bin/python benchmarks/large_images.py --megapixels 0.24 3.4 13.5 --methods regions foreground
"""

import argparse
import json
import resource
import subprocess
import sys
import time

METHODS = ("regions", "foreground", "kmeans")


def photo(megapixels):
    """The coffee sample scaled to about `megapixels`, 2:3 like the original."""
    import numpy as np
    from skimage import data, transform

    image = data.coffee()
    height = round((megapixels * 1e6 * image.shape[0] / image.shape[1]) ** 0.5)
    width = round(height * image.shape[1] / image.shape[0])
    big = transform.resize(image, (height, width), order=1) * 255
    noise = np.random.default_rng(0).integers(-6, 7, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def run_one(method, megapixels):
    """Time one method on one size in this process; returns a dict."""
    from napari_dsp.foreground import foreground_segmentation
    from napari_dsp.kmeans import kmeans_segmentation
    from napari_dsp.regions import region_segmentation

    image = photo(megapixels)
    function = {"regions": region_segmentation, "foreground": foreground_segmentation,
                "kmeans": kmeans_segmentation}[method]
    start = time.perf_counter()
    labels = function(image, channel_axis=-1, seed=0)
    seconds = time.perf_counter() - start
    labels = getattr(labels, "mask", labels)  # foreground returns the mask and its saliency
    return {"method": method, "shape": list(image.shape[:2]), "seconds": seconds, "labels": int(labels.max()),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[0.24, 3.4, 13.5])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "MEGAPIXELS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], float(args.one[1]))))
        return
    print("| method | size | s | labels | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    for method in args.methods:
        for megapixels in args.megapixels:
            done = subprocess.run([sys.executable, __file__, "--one", method, str(megapixels)], check=True,
                                  capture_output=True, text=True)
            row = json.loads(done.stdout.splitlines()[-1])
            height, width = row["shape"]
            print(f"| {method} | {height} x {width} | {row['seconds']:.1f} | {row['labels']} "
                  f"| {row['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
