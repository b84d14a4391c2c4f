"""Images per minute: a plain loop of ``segment`` vs. ``napari_dsp.batch.segment_files`` on a LocalCluster.

Both segment the same small photographs (crops of the bundled samples) with the
same settings and write the same outputs (``_write_outputs``, as ``napari-dsp
segment`` does):

``loop``
    One process: read, ``segment``, write, image after image, with torch's
    default threads (the prior trains its restarts in threads).
``cluster``
    ``segment_files`` on a LocalCluster of ``--workers`` single-threaded
    worker processes (the one it starts by default). The cluster's start-up
    and the workers' imports are timed apart ("start-up s"), as the loop's
    imports are not timed: a fixed cost of each run, small against hours.

Each runs in a fresh subprocess, so peak memory is per configuration: the main
process's peak RSS, and for the cluster the largest worker's (its workers are
children of the main process). The load average is printed before and after:
on a shared machine the wall times depend on it.

Usage (from the repository root)::

    .venv/bin/python benchmarks/batch.py --images 6 --iterations 5 --restarts 2
    .venv/bin/python benchmarks/batch.py --images 4 --preset fast --size 321   # seconds per image, fast preset
"""

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_images(folder, n, size):
    """`n` different size x size RGB crops of the bundled sample photographs, as PNG files."""
    import imageio.v3 as iio

    from napari_dsp.samples import SAMPLES, load_sample

    photos = [load_sample(name) for name in sorted(SAMPLES)]
    for index in range(n):
        photo = photos[index % len(photos)]
        step = index // len(photos)
        top = min(step * size // 4, photo.shape[0] - size)
        left = min(step * size // 3, photo.shape[1] - size)
        iio.imwrite(folder / f"image{index:03d}.png", photo[top: top + size, left: left + size])


def run_loop(folder, out, options):
    from napari_dsp.cli import _write_outputs, read_image
    from napari_dsp.pipeline import segment

    start = time.perf_counter()
    for path in sorted(folder.iterdir()):
        image, channel_axis = read_image(path)
        result = segment(image, channel_axis=channel_axis, **options)
        _write_outputs(out, path.stem, image, channel_axis, result, {"input": str(path), **result.parameters})
    return {"wall": time.perf_counter() - start}


def run_cluster(folder, out, options, workers):
    import distributed

    from napari_dsp.batch import segment_files

    start = time.perf_counter()
    # The cluster segment_files would start (processes of one thread), started here so that its start-up and the
    # workers' imports are timed apart, as the loop's imports are not timed.
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, \
            distributed.Client(cluster) as client:
        client.run(importlib.import_module, "napari_dsp.pipeline")
        startup = time.perf_counter() - start
        start = time.perf_counter()
        result = segment_files(folder, out, scheduler=cluster.scheduler_address, progress=False, **options)
        wall = time.perf_counter() - start
    assert result.counts()["done"] == len(result.items), result.counts()
    return {"wall": wall, "startup": startup, "task_seconds": [item.seconds for item in result.items]}


def measure(args):
    """Run one configuration in this process and print its numbers as JSON."""
    options = dict(preset=args.preset, iterations=args.iterations, restarts=args.restarts, seed=0, device="cpu")
    folder = Path(args.folder)
    with tempfile.TemporaryDirectory() as out:
        if args.mode == "loop":
            numbers = run_loop(folder, Path(out), options)
        else:
            numbers = run_cluster(folder, Path(out), options, args.workers)
    numbers["rss_main_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    numbers["rss_worker_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(numbers))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--size", type=int, default=128, help="side of the square crops (default: %(default)s)")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--iterations", type=int, help="prior iterations (default: the preset's)")
    parser.add_argument("--restarts", type=int, help="prior networks (default: the preset's)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="cluster workers (default: the usable cores, %(default)s)")
    parser.add_argument("--mode", choices=("loop", "cluster"), help=argparse.SUPPRESS)  # one measurement
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        return measure(args)

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_images(Path(folder), args.images, args.size)
        for mode in ("loop", "cluster"):
            command = [sys.executable, __file__, "--mode", mode, "--folder", folder,
                       "--preset", args.preset, "--workers", str(args.workers)]
            for name in ("iterations", "restarts"):
                if getattr(args, name) is not None:
                    command += [f"--{name}", str(getattr(args, name))]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append((mode, json.loads(done.stdout.strip().splitlines()[-1])))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    settings = f"preset {args.preset}, iterations {args.iterations or 'preset'}, restarts {args.restarts or 'preset'}"
    print(f"\n{args.images} images of {args.size} x {args.size} px, {settings}, {os.cpu_count()} CPUs\n")
    print("| mode | workers | start-up s | wall s | images/min | task s per image (mean) | peak RSS main MB "
          "| peak RSS worker MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode, numbers in rows:
        per_image = np.mean(numbers["task_seconds"]) if "task_seconds" in numbers else numbers["wall"] / args.images
        workers = args.workers if mode == "cluster" else "-"
        worker_rss = f"{numbers['rss_worker_mb']:.0f}" if mode == "cluster" else "-"
        startup = f"{numbers['startup']:.1f}" if mode == "cluster" else "-"
        print(f"| {mode} | {workers} | {startup} | {numbers['wall']:.1f} | {60 * args.images / numbers['wall']:.1f} | "
              f"{per_image:.2f} | {numbers['rss_main_mb']:.0f} | {worker_rss} |")


if __name__ == "__main__":
    main()
