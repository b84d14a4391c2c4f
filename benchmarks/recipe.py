r"""Time the paper's foreground/background recipe: plain reference structure vs. napari-dsp.

The recipe is the Deep Segmentation Prior (11 restarts x 50 iterations) followed
by 2-class KMeans on 7 x 7 window features. Two implementations run on the same
image at each size, each in its own subprocess (so allocator state and peak
memory are per configuration):

``plain``
    The structure of the authors' code: a DIP skip net (reflection-pad +
    biased convolutions), restarts one after another, fp32, torch's default
    threads and allocator; features by zero padding and stacking the 49
    shifted copies; scikit-learn KMeans with 10 initialisations on all pixels.
``package``
    ``napari_dsp.prior.deep_segmentation_prior`` then
    ``napari_dsp.kmeans.kmeans_segmentation``, with their defaults (the
    ``paper`` preset).
``package-idle-core``
    The same with the leftover restarts kept at one thread each, as the first
    release ran them: the before of "no idle core".
``package-bf16``
    ``package`` with ``precision="bfloat16"`` (the networks' forward pass in
    bfloat16 autocast): faster where the CPU has AVX-512 BF16 or AMX, much
    slower where it must emulate bfloat16. Its "same KMeans" column is its
    agreement with ``package``.
``fast``
    The ``fast`` preset of the prior, then the same KMeans. Its agreement with
    ``package`` is the fast preset's validation: it should be at least the
    paper preset's own seed-to-seed agreement.
``fast-bf16``
    ``fast`` with ``precision="bfloat16"``.

The package runs with two seeds so that its agreement with the plain run can be
read against the seed-to-seed agreement of the method itself. Agreement is the
share of pixels with the same class after the best matching of class ids. The
"same KMeans" column clusters the plain prior with the package's KMeans, so it
compares the two priors alone (the package's KMeans pads borders by reflection
where the reference pads with zeros, which moves border pixels).

Usage (from the repository root)::

    .venv/bin/python benchmarks/recipe.py --sizes 256 512 [1024] \
        [--configs plain package package-idle-core package-bf16 fast fast-bf16]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ITERATIONS, RESTARTS, WINDOW, CLUSTERS = 50, 11, 7, 2
CONFIGS = ("plain", "package", "package-idle-core", "package-bf16", "fast", "fast-bf16")


def sample_image(size):
    """The scikit-image astronaut photograph, resized to size x size, uint8 RGB."""
    from skimage import data
    from skimage.transform import resize

    image = resize(data.astronaut(), (size, size), anti_aliasing=True, preserve_range=True)
    return np.round(image).astype(np.uint8)


# --------------------------------------------------------------------------
# The plain reference structure, written the way the authors' code is.


def plain_net(out_channels):
    import torch.nn as nn

    def conv(cin, cout, k, stride=1):
        return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride, bias=True))

    down, up = [8, 16, 32], [8, 16, 32]
    model = nn.Sequential()
    current, depth = model, 2
    for i in range(3):
        deeper, deeper_main = nn.Sequential(), nn.Sequential()
        current.add_module("deeper", deeper)
        k = up[i + 1] if i < 2 else down[i]
        current.add_module("bn0", nn.BatchNorm2d(k))
        deeper.add_module("c1", conv(depth, down[i], 3, 2))
        deeper.add_module("b1", nn.BatchNorm2d(down[i]))
        deeper.add_module("a1", nn.LeakyReLU(0.2))
        deeper.add_module("c2", conv(down[i], down[i], 3))
        deeper.add_module("b2", nn.BatchNorm2d(down[i]))
        deeper.add_module("a2", nn.LeakyReLU(0.2))
        if i < 2:
            deeper.add_module("main", deeper_main)
        deeper.add_module("up", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True))
        current.add_module("c3", conv(k, up[i], 3))
        current.add_module("b3", nn.BatchNorm2d(up[i]))
        current.add_module("a3", nn.LeakyReLU(0.2))
        current.add_module("c4", conv(up[i], up[i], 1))
        current.add_module("b4", nn.BatchNorm2d(up[i]))
        current.add_module("a4", nn.LeakyReLU(0.2))
        depth, current = down[i], deeper_main
    model.add_module("head", conv(up[0], out_channels, 1))
    model.add_module("sigmoid", nn.Sigmoid())
    return model


def plain_prior(image, seed):
    import torch

    torch.manual_seed(seed)  # global seeding, as the reference script does
    target = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    outputs = []
    for _ in range(RESTARTS):
        net = plain_net(3)
        noise = torch.rand(1, 2, *image.shape[:2]) * 0.1
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(ITERATIONS):
            optimizer.zero_grad()
            out = net(noise)
            loss = torch.nn.functional.l1_loss(out, target)
            loss.backward()
            optimizer.step()
        outputs.append(out.detach().numpy()[0].transpose(1, 2, 0))
    return np.median(np.stack(outputs), axis=0)


def plain_kmeans(prior, seed):
    from sklearn.cluster import KMeans

    half = WINDOW // 2
    height, width = prior.shape[:2]
    padded = np.pad(prior, ((half, half), (half, half), (0, 0)))
    features = np.stack(
        [padded[dy : dy + height, dx : dx + width] for dy in range(WINDOW) for dx in range(WINDOW)], axis=-1
    ).reshape(height * width, -1)
    return KMeans(CLUSTERS, n_init=10, random_state=seed).fit_predict(features).reshape(height, width)


# --------------------------------------------------------------------------


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_config(config, size, seed, out_path):
    """Run one configuration in this process; write its labels; return timings."""
    image = sample_image(size)
    if config == "plain":
        plain_prior(image[:32, :32], seed)  # warm-up: torch's first-call set-up is not the recipe
        start, cpu_start = time.perf_counter(), cpu_seconds()
        prior = plain_prior(image, seed)
        middle = time.perf_counter()
        labels = plain_kmeans(prior, seed)
        device = "cpu"
    else:
        from napari_dsp import prior as prior_module
        from napari_dsp import resolve_device
        from napari_dsp.kmeans import kmeans_segmentation
        from napari_dsp.prior import deep_segmentation_prior

        if config == "package-idle-core":
            prior_module._SHARED_CORES_MIN_PIXELS = float("inf")
        device = str(resolve_device(None))
        deep_segmentation_prior(image[:32, :32], channel_axis=-1, iterations=2, restarts=2, seed=seed)
        start, cpu_start = time.perf_counter(), cpu_seconds()
        precision = "bfloat16" if config.endswith("-bf16") else "float32"
        if config.startswith("fast"):
            prior = deep_segmentation_prior(image, channel_axis=-1, preset="fast", seed=seed, precision=precision)
        else:
            prior = deep_segmentation_prior(
                image, channel_axis=-1, iterations=ITERATIONS, restarts=RESTARTS, seed=seed, precision=precision
            )
        middle = time.perf_counter()
        labels = kmeans_segmentation(prior, CLUSTERS, window=WINDOW, channel_axis=-1, seed=seed)
    end, cpu = time.perf_counter(), cpu_seconds() - cpu_start
    np.savez(out_path, labels=np.asarray(labels), prior=np.asarray(prior, dtype=np.float32))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = dict(
        prior_s=middle - start, kmeans_s=end - middle, total_s=end - start, cpu_s=cpu, peak_mb=peak_mb, device=device
    )
    try:
        import torch

        if torch.cuda.is_available():
            result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    except ImportError:
        pass
    return result


def agreement(a, b):
    """Share of pixels with the same class under the best matching of class ids."""
    from scipy.optimize import linear_sum_assignment

    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    confusion = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(confusion, (a.ravel(), b.ravel()), 1)
    rows, cols = linear_sum_assignment(-confusion)
    return confusion[rows, cols].sum() / a.size


def spawn(config, size, seed, workdir, env):
    out_path = os.path.join(workdir, f"{config}-{size}-{seed}.npz")
    command = [sys.executable, __file__, "--worker", config, "--sizes", str(size), "--seed", str(seed)]
    command += ["--labels", out_path]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out_path) as saved:
        result.update(labels=saved["labels"], prior=saved["prior"])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-plain-above", type=int, default=None, metavar="PX",
                        help="run only the package at sizes above PX (the plain 1024 px run takes minutes)")
    parser.add_argument("--omp-passive", action="store_true",
                        help="run both configurations with OMP_WAIT_POLICY=PASSIVE: on a machine busy with "
                             "other work, OpenMP threads spinning at barriers make multi-threaded torch much slower")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=["plain", "package"],
                        help="what to run at each size (default: plain package)")
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--labels", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_config(args.worker, args.sizes[0], args.seed, args.labels)))
        return

    import torch

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE") if args.omp_passive else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          + (", OMP_WAIT_POLICY=PASSIVE" if args.omp_passive else ""))
    print(f"recipe: {RESTARTS} restarts x {ITERATIONS} iterations + {WINDOW}x{WINDOW} KMeans (k={CLUSTERS})\n")
    print("| size | config | device | prior s | KMeans s | total s | speed-up | CPU s | peak RSS MB "
          "| agreement with plain | same KMeans | package seed-to-seed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes:
            plain = reference = None
            if "plain" in args.configs and (args.skip_plain_above is None or size <= args.skip_plain_above):
                from napari_dsp.kmeans import kmeans_segmentation

                plain = spawn("plain", size, args.seed, workdir, env)
                print(f"| {size} | plain | cpu | {plain['prior_s']:.1f} | {plain['kmeans_s']:.1f} | "
                      f"{plain['total_s']:.1f} | 1.00 | {plain['cpu_s']:.1f} | {plain['peak_mb']:.0f} | | | |",
                      flush=True)
                # The plain prior through the package's KMeans: compares the two priors alone.
                relabelled = kmeans_segmentation(
                    plain["prior"], CLUSTERS, window=WINDOW, channel_axis=-1, seed=args.seed
                )
            for config in (c for c in args.configs if c != "plain"):
                package = spawn(config, size, args.seed, workdir, env)
                other = spawn(config, size, args.seed + 1, workdir, env)
                if config == "package":
                    reference = package
                speedup = f"{plain['total_s'] / package['total_s']:.2f}" if plain else ""
                versus_plain = same_kmeans = ""
                if plain:
                    versus_plain = f"{agreement(package['labels'], plain['labels']):.2%}"
                    same_kmeans = f"{agreement(package['labels'], relabelled):.2%}"
                if config in ("fast", "package-bf16", "fast-bf16") and reference is not None:
                    same_kmeans = f"{agreement(package['labels'], reference['labels']):.2%} with package"
                peak = f"{package['peak_mb']:.0f}"
                if "gpu_peak_mb" in package:
                    peak += f" (GPU {package['gpu_peak_mb']:.0f})"
                print(f"| {size} | {config} | {package['device']} | {package['prior_s']:.1f} | "
                      f"{package['kmeans_s']:.1f} | {package['total_s']:.2f} | {speedup} | {package['cpu_s']:.1f} | "
                      f"{peak} | {versus_plain} | {same_kmeans} | "
                      f"{agreement(package['labels'], other['labels']):.2%} |", flush=True)


if __name__ == "__main__":
    main()
