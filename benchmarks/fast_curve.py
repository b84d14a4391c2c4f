"""Settings curve of the reduced-resolution prior: agreement with the ``paper`` preset and seconds.

On the benchmark image of ``recipe.py`` (the astronaut at 512 x 512), fits the
``paper`` prior once (seed 0, about a minute per core pair) and then, for each
setting ``RESTARTSxITERATIONS@SIZE``, the prior with those settings for each
seed, clusters both with 2-class 7 x 7 KMeans and prints the pixel agreement
(after the best matching of classes) and the seconds of prior + KMeans, in one
process after a warm-up. A suffix ``~K`` (``2x80@256~10``) sets ``average_last``:
each network's output is the mean of its last K iterations' (without it, 1: the
last alone). Example::

    .venv/bin/python benchmarks/fast_curve.py 3x50@256 2x80@256 2x80@256~10 --seeds 0 1 2
"""

import argparse
import json
import re
import time

import numpy as np

from recipe import agreement, sample_image


def parse(text):
    match = re.fullmatch(r"(\d+)x(\d+)@(\d+)(?:~(\d+))?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not RESTARTSxITERATIONS@SIZE[~K], e.g. 2x80@256~10")
    return tuple(int(group or 1) for group in match.groups())


def main(argv=None):
    from napari_dsp.kmeans import kmeans_segmentation
    from napari_dsp.prior import deep_segmentation_prior

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", type=parse, metavar="RxI@SIZE[~K]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--size", type=int, default=512, help="side of the benchmark image")
    args = parser.parse_args(argv)
    image = sample_image(args.size)
    paper = kmeans_segmentation(deep_segmentation_prior(image, channel_axis=-1, seed=0), 2, window=7,
                                channel_axis=-1, seed=0)
    deep_segmentation_prior(image[:64, :64], channel_axis=-1, iterations=2, restarts=2, seed=0)  # warm-up
    for restarts, iterations, size, last in args.settings:
        seconds, agreements = [], []
        for seed in args.seeds:
            start = time.perf_counter()
            prior = deep_segmentation_prior(image, channel_axis=-1, iterations=iterations, restarts=restarts,
                                            max_size=size, average_last=last, seed=seed)
            labels = kmeans_segmentation(prior, 2, window=7, channel_axis=-1, seed=0)
            seconds.append(round(time.perf_counter() - start, 2))
            agreements.append(round(100 * agreement(labels, paper), 2))
        print(json.dumps(dict(restarts=restarts, iterations=iterations, max_size=size, average_last=last,
                              seconds=seconds, agreement=agreements, mean=round(float(np.mean(agreements)), 2))),
              flush=True)


if __name__ == "__main__":
    main()
