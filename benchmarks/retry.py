"""Seconds of a first Segment run and of a retry on the same prior, as the Segment widget runs them.

A user tunes by running again with another k or threshold. The Segment widget
then passes the prior it just fitted back to `napari_dsp.pipeline.segment`
(``prior=``), and regions fit none unless asked (``fit_prior=False``). This
times, on the bundled coffee sample (400 x 600), each method's first run
(prior + segmentation), its retry on that prior, and regions with no prior,
in one process after a warm-up. Example::

    .venv/bin/python benchmarks/retry.py --preset fast
"""

import argparse
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", help="preset of the prior (default: fast)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from napari_dsp.pipeline import segment
    from napari_dsp.samples import load_sample

    image = load_sample("coffee")
    common = {"preset": args.preset, "channel_axis": -1, "seed": 0, "device": args.device}
    segment(image[::4, ::4], method="regions", **common)  # warm-up: imports, first allocations
    for method, options in (("regions", {}), ("kmeans", {"n_clusters": 3}), ("foreground", {})):
        start = time.perf_counter()
        first = segment(image, method=method, **common, **options)
        fitted = time.perf_counter() - start
        start = time.perf_counter()
        again = segment(image, method=method, prior=first.prior, **common, **options)
        retried = time.perf_counter() - start
        line = (f"{method}: prior + segmentation {fitted:.1f} s, retry on the same prior {retried:.2f} s, "
                f"same labels {bool((first.labels == again.labels).all())}")
        if method == "regions":
            start = time.perf_counter()
            segment(image, method=method, fit_prior=False, **common)
            line += f", no prior {time.perf_counter() - start:.2f} s"
        print(line, flush=True)


if __name__ == "__main__":
    main()
