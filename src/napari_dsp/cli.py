"""The ``napari-dsp`` command line (also ``python -m napari_dsp``).

Each sub-command is a pair of functions: ``_add_<name>(subparsers)`` declares
its arguments and sets ``run`` to ``_run_<name>(args)``, which returns the
exit status. Registering a new sub-command is one more entry in `_COMMANDS`.
Heavy modules (torch, the algorithms) are imported inside the ``_run_``
functions so that ``--help`` is instant; nothing here imports napari or Qt.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .progress import Cancelled
from .recipes import (
    FAST, FOREGROUND, FOREGROUND_RULES, LOW_PASS_KEEP, METHODS, PAPER, PRECISIONS, PRESETS, REGIONS,
)
from .samples import SAMPLES, load_sample

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class InputError(Exception):
    """An input file that is missing or cannot be read as an image."""


def read_image(path):
    """Read a PNG, JPEG or TIFF file as a 2-D grayscale or RGB image.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    image : (M, N) or (M, N, 3) ndarray
        The image, with any alpha channel dropped.
    channel_axis : int or None
        -1 for an RGB image, None for grayscale.

    Raises
    ------
    InputError
        If the file does not exist, cannot be decoded, or is neither a
        2-D grayscale nor an (M, N, 3|4) colour image.
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; pass an image file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        image = iio.imread(path)
    except (OSError, SyntaxError):  # Pillow raises SyntaxError for a broken PNG
        # imageio's messages span several lines and list plugins; one line is enough here.
        raise InputError(f"{path}: cannot read it as an image (PNG, JPEG or TIFF)") from None
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (1, 2):  # grayscale, with alpha if 2
        return image[..., 0], None
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return image[..., :3], -1
    if image.ndim == 2:
        return image, None
    raise InputError(
        f"{path}: expected a 2-D grayscale or an RGB(A) image, got an array of shape {image.shape}"
    )


def _add_segment(subparsers):
    parser = subparsers.add_parser(
        "segment",
        help="compute the prior of an image and segment it",
        description=(
            "Fit the Deep Segmentation Prior to one image and segment it: window KMeans, or the "
            "self-trained CNN of the paper's section 5 (--method backprop). "
            "Writes the prior and the labels (TIFF and PNG), an overlay PNG and the parameters "
            "(JSON) to --out."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", help="PNG, JPEG or TIFF image (2-D grayscale or RGB)")
    source.add_argument("--sample", choices=sorted(SAMPLES), help="use a bundled sample photograph instead")
    _add_segment_options(parser)
    parser.add_argument("--prior", type=Path,
                        help="the image's prior from an earlier run (its <name>_prior.tif), used instead of fitting "
                             "one: another --method, --k or --merge-threshold then costs no new fit; the prior "
                             "options are ignored and the file is recorded in the parameters")
    parser.add_argument("--out", type=Path, default=Path("dsp-output"), help="output folder (default: dsp-output)")
    parser.set_defaults(run=lambda args: _run_segment(args, parser))


def _add_segment_options(parser):
    """The options of `segment` that ``segment`` and ``batch`` share; `_segment_options` reads them back."""
    parser.add_argument(
        "--method", choices=METHODS, default="kmeans",
        help="kmeans: K classes labelled 1..K; foreground: the object (1) on the background (0), by the prior's "
             "saliency and a graph cut on the image; regions: regions merged on the image (better than on the "
             "prior), their number found per image; "
             "kmeans-foreground: the paper's 2-class KMeans split (see --rule); backprop: an unknown number of "
             "classes by a self-trained CNN guided by SLIC on the prior; doubledip: the Double-DIP baseline "
             "(default: %(default)s)",
    )
    parser.add_argument("--rule", choices=FOREGROUND_RULES, default=FOREGROUND_RULES[0],
                        help="which KMeans class kmeans-foreground calls the foreground: saliency, or border (the "
                             "class touching the image border less; the first release's rule) (default: %(default)s)")
    parser.add_argument("--center-sigma", type=float, default=FOREGROUND.center_sigma,
                        help="spread of foreground's centre prior, as a fraction of the image side: of two distinct "
                             "objects the more central one is the foreground; 0 switches it off, for objects "
                             "anywhere in the frame (default: %(default)s)")
    parser.add_argument("--n-clusters", "--k", type=int, default=PAPER.kmeans.n_clusters, dest="n_clusters",
                        help="number of classes for kmeans (default: %(default)s; --k is the old name)")
    parser.add_argument("--window", type=int, default=PAPER.kmeans.window,
                        help="odd KMeans window side in pixels (default: %(default)s)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=PAPER.name,
                        help="settings of everything not given below: paper reproduces the paper, fast is "
                             f"{FAST.description} (default: %(default)s)")
    parser.add_argument("--iterations", type=int,
                        help=f"prior training iterations per network (default: the preset's; paper "
                             f"{PAPER.foreground_prior.iterations}, {PAPER.multiclass_prior.iterations} for backprop "
                             f"and regions; fast {FAST.foreground_prior.iterations}, {FAST.multiclass_prior.iterations} "
                             "for backprop and regions)")
    parser.add_argument("--restarts", type=int,
                        help=f"networks whose median is the prior (default: the preset's; paper "
                             f"{PAPER.foreground_prior.restarts}, {PAPER.multiclass_prior.restarts} for backprop "
                             f"and regions; fast {FAST.foreground_prior.restarts})")
    parser.add_argument("--max-size", type=int,
                        help="fit the prior with its long side at most this many pixels, 0 for full size "
                             f"(default: the preset's; paper {PAPER.foreground_prior.max_size}, "
                             f"fast {FAST.foreground_prior.max_size}, {FAST.multiclass_prior.max_size} for backprop "
                             "and regions)")
    parser.add_argument("--precision", choices=PRECISIONS, default=PRECISIONS[0],
                        help="arithmetic of the prior's networks: bfloat16 is faster only on hardware with "
                             "bfloat16 arithmetic (CPUs with AVX-512 BF16), much slower on others "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, help="random seed, for a reproducible result")
    backprop = parser.add_argument_group("backprop options (default: the preset's; see napari_dsp.backprop)")
    backprop.add_argument("--max-iterations", type=int,
                          help=f"most CNN iterations after the {PAPER.backprop.warmup} warm-up ones "
                               f"(paper {PAPER.backprop.max_iterations}, fast {FAST.backprop.max_iterations})")
    backprop.add_argument("--scale", type=float,
                          help="fit the CNN at this fraction of the image size, e.g. 0.5 (4x faster on CPU; "
                               f"paper {PAPER.backprop.scale:g}, fast {FAST.backprop.scale:g})")
    backprop.add_argument("--n-features", type=int,
                          help=f"CNN channels, the most labels (paper {PAPER.backprop.n_features}, "
                               f"fast {FAST.backprop.n_features})")
    regions = parser.add_argument_group("regions options (default: napari_dsp.recipes.REGIONS)")
    regions.add_argument("--no-prior", action="store_false", dest="fit_prior",
                         help="fit no prior and write no prior files: regions do not use it (they are merged on "
                              "the image), so this is the quick way to them")
    regions.add_argument("--merge-threshold", type=float, dest="threshold",
                         help="how different neighbouring regions may be and still merge, in units of the "
                              f"image's median contrast: larger gives fewer regions (default {REGIONS.threshold:g})")
    regions.add_argument("--smallest-region", type=float, dest="min_size",
                         help="regions smaller than this fraction of the image merge into a neighbour, e.g. "
                              f"0.0005 keeps more small regions (default {REGIONS.min_size:g})")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
        help="torch device for the networks (default: auto, the best available)",
    )
    parser.add_argument("--config", type=Path,
                        help="settings from a JSON file, e.g. the *_parameters.json of an earlier run, to run it "
                             "again; options given here with other than their default values override it")


# The options of backprop_segmentation and of region_segmentation that the command line sets.
_BACKPROP_FLAGS = ("max_iterations", "scale", "n_features")
_REGION_FLAGS = ("threshold", "min_size")


def _segment_options(args, parser):
    """Keyword arguments of `napari_dsp.pipeline.segment` from the options of `_add_segment_options`.

    With ``--config``, the file's settings fill every option not given on the command line (one given with
    its default value counts as not given).
    """
    backprop = {dest: getattr(args, dest) for dest in _BACKPROP_FLAGS if getattr(args, dest) is not None}
    regions = {dest: getattr(args, dest) for dest in _REGION_FLAGS if getattr(args, dest) is not None}
    options = dict(
        method=args.method, preset=args.preset, n_clusters=args.n_clusters, window=args.window, rule=args.rule,
        center_sigma=args.center_sigma, iterations=args.iterations, restarts=args.restarts, max_size=args.max_size,
        precision=args.precision, device=None if args.device == "auto" else args.device, seed=args.seed,
        fit_prior=args.fit_prior,
    )
    if args.config is not None:
        from .batch import load_settings

        given = {dest for dest, value in vars(args).items() if value != parser.get_default(dest)}
        settings = load_settings(args.config)
        backprop = {**settings.pop("backprop_options", {}), **backprop}
        regions = {**settings.pop("region_options", {}), **regions}
        options.update({key: value for key, value in settings.items() if key not in given})
    # Options of another method are ignored, as --n-clusters is for all but kmeans.
    options["backprop_options"] = backprop if options["method"] == "backprop" else None
    options["region_options"] = regions if options["method"] == "regions" else None
    options["fit_prior"] = options["fit_prior"] or options["method"] != "regions"
    return options


def _run_segment(args, parser):
    if args.sample is not None:
        image, channel_axis, name = load_sample(args.sample), -1, args.sample
    else:
        image, channel_axis = read_image(args.input)
        name = Path(args.input).stem
    prior = None if args.prior is None else _read_prior(args.prior, image.shape)

    from tqdm import tqdm

    from .pipeline import PRIOR_SETTINGS, segment

    bars = []

    def show(progress):
        # Created on the first step, so that an option rejected up front prints only its error line;
        # one bar per stage (the backprop stage may stop before its total).
        if not bars or bars[-1].desc != progress.stage:
            for bar in bars:
                bar.close()
            bars.append(tqdm(total=progress.total, desc=progress.stage, unit="it", file=sys.stderr, dynamic_ncols=True))
        bars[-1].set_postfix(loss=f"{progress.loss:.4f}", refresh=False)
        bars[-1].update(progress.step - bars[-1].n)
        if progress.step == progress.total:
            bars[-1].close()

    try:
        result = segment(image, channel_axis=channel_axis, callback=show, prior=prior,
                         **_segment_options(args, parser))
    finally:
        for bar in bars:
            bar.close()

    source = f"sample:{args.sample}" if args.sample is not None else str(args.input)
    parameters = {"input": source, **result.parameters}
    if args.prior is not None:
        # The prior options given here did not make it; the file's own provenance says what did.
        for key in PRIOR_SETTINGS:
            parameters.pop(key, None)
        parameters["prior"] = str(args.prior)
    written = _write_outputs(args.out, name, image, channel_axis, result, parameters)
    print(f"wrote {len(written)} files to {args.out}/:")
    for path in written:
        print(f"  {path.name}")
    return 0


def _read_prior(path, shape):
    """The prior in TIFF `path`, checked against the image's `shape`."""
    prior, _ = read_image(path)
    if prior.shape != shape:
        raise InputError(f"{path}: prior of shape {prior.shape} does not match the image's {shape}")
    return prior


def _write_outputs(folder, name, image, channel_axis, result, parameters):
    """Write prior (if any), labels, overlay, parameters and saliency (if any); return the paths written."""
    import imageio.v3 as iio
    import tifffile

    from ._provenance import write_tiff

    folder.mkdir(parents=True, exist_ok=True)
    keys = ("labels.tif", "labels.png", "overlay.png", "parameters.json")
    keys = keys if result.prior is None else ("prior.tif", "prior.png", *keys)
    paths = {key: folder / f"{name}_{key}" for key in keys}
    # The provenance the napari plugin's TIFF writer stores too: opened in napari, the files say what made them.
    if result.prior is not None:
        write_tiff(paths["prior.tif"], result.prior, {"kind": "prior", "source": name, "parameters": parameters})
        iio.imwrite(paths["prior.png"], _displayable(result.prior, image.dtype))
    write_tiff(paths["labels.tif"], result.labels,
               {"kind": parameters.get("method", "labels"), "source": name, "parameters": parameters})
    label_dtype = np.uint8 if result.labels.max() < 256 else np.uint16
    iio.imwrite(paths["labels.png"], result.labels.astype(label_dtype))
    iio.imwrite(paths["overlay.png"], _overlay(image, channel_axis, result.labels))
    written = [path for key, path in paths.items() if key != "parameters.json"]
    if result.saliency is not None:
        written.append(folder / f"{name}_saliency.tif")
        tifffile.imwrite(written[-1], result.saliency)
    # The parameters come last, so that a batch item whose parameters exist is complete.
    paths["parameters.json"].write_text(json.dumps(parameters, indent=2) + "\n")
    return written + [paths["parameters.json"]]


def _displayable(array, dtype):
    """An 8- or 16-bit version of `array` for PNG, in the input's intensity scale where it has one."""
    if dtype in (np.uint8, np.uint16):
        info = np.iinfo(dtype)
        return np.clip(np.rint(array), info.min, info.max).astype(dtype)
    lo, hi = float(array.min()), float(array.max())
    return np.rint((array - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)


def _overlay(image, channel_axis, labels):
    """The image with labels as translucent colours and their boundaries in yellow, as uint8 RGB."""
    from skimage.color import label2rgb
    from skimage.segmentation import mark_boundaries

    from ._image import prepare_image

    rgb = np.moveaxis(prepare_image(image, channel_axis, min_size=1).data, 0, -1)
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    coloured = label2rgb(labels, image=rgb, alpha=0.35, bg_label=0, image_alpha=1.0, kind="overlay")
    outlined = mark_boundaries(coloured, labels, color=(1.0, 1.0, 0.0))
    return np.rint(np.clip(outlined, 0, 1) * 255).astype(np.uint8)


def _add_batch(subparsers):
    from .batch import RETRIES, SUMMARY

    parser = subparsers.add_parser(
        "batch",
        help="segment many images and stacks on a Dask cluster",
        description=(
            "Segment every image of INPUT (files, folders, glob patterns; a multi-page TIFF plane by plane) with "
            "the same settings, on a local Dask cluster or a running one (--scheduler). Each image gets the "
            "outputs of `napari-dsp segment`, named <stem>_<hash of content and settings>, in --out; a re-run "
            f"skips what is finished. A summary goes to OUT/{SUMMARY}. Needs: pip install napari-dsp[batch]."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    _add_segment_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="address of a running Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)")
    cluster.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core)")
    parser.add_argument("--retries", type=int, default=RETRIES,
                        help="re-runs of a task that raised an unexpected error (default: %(default)s)")
    parser.set_defaults(run=lambda args: _run_batch(args, parser))


def _run_batch(args, parser):
    from .batch import segment_files

    options = _segment_options(args, parser)
    try:
        result = segment_files(args.inputs, args.out, scheduler=args.scheduler, n_workers=args.workers,
                               retries=args.retries, **options)
    except ImportError as error:  # dask is missing; the message says how to install it
        print(f"napari-dsp: error: {error}", file=sys.stderr)
        return 1
    counts = result.counts()
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; summary: {result.summary}")
    for item in result.items:
        if item.status == "failed":
            where = f"{item.input}{'' if item.plane is None else f' plane {item.plane}'}: "
            print(f"  failed: {'' if item.error.startswith(item.input) else where}{item.error}")
    return 1 if counts["failed"] else 0


def _add_benchmark(subparsers):
    from .evaluation.benchmark import BSDS500_CLUSTERS, FAMILIES

    parser = subparsers.add_parser(
        "benchmark",
        help="score the methods on BSDS500 or ECSSD",
        description=(
            "Run every method on the same dataset images and score them against the ground truth. "
            "Results go to OUT/<dataset>.jsonl, one line per image and method, as soon as each is done: "
            "re-running skips what is finished. Each image's prior is cached in OUT/priors/. "
            "Prints a Markdown table and writes it to OUT/<dataset>.md."
        ),
    )
    parser.add_argument("--dataset", choices=("bsds500", "ecssd"), required=True)
    parser.add_argument("--root", type=Path, required=True, help="dataset folder (holding images/)")
    parser.add_argument("--split", default="val", help="BSDS500 split in the original archive layout (default: val)")
    parser.add_argument("--offset", type=int, default=0,
                        help="skip the first N images (sorted by name), e.g. to split a run between processes")
    parser.add_argument("--limit", type=int, help="at most N images (after --offset)")
    parser.add_argument("--methods", nargs="+", choices=FAMILIES, metavar="METHOD",
                        help=f"method families (default: all that apply): {', '.join(FAMILIES)}")
    parser.add_argument("--n-clusters", "--k", nargs="+", type=int, default=list(BSDS500_CLUSTERS), dest="n_clusters",
                        help="KMeans classes on BSDS500, one row each (default: %(default)s; --k is the old name)")
    parser.add_argument("--window", type=int, default=PAPER.kmeans.window, help="KMeans window side (default: %(default)s)")
    parser.add_argument("--kmeans-samples", type=int,
                        help=f"pixels KMeans is fitted on (default: {PAPER.kmeans.max_samples})")
    parser.add_argument("--kmeans-init", type=int, help=f"KMeans initialisations (default: {PAPER.kmeans.n_init})")
    parser.add_argument("--prior-iterations", type=int,
                        help=f"prior iterations per network (default: {PAPER.foreground_prior.iterations} for ecssd, "
                             f"{PAPER.multiclass_prior.iterations} for bsds500)")
    parser.add_argument("--prior-restarts", type=int,
                        help=f"prior networks (default: {PAPER.foreground_prior.restarts} for ecssd, "
                             f"{PAPER.multiclass_prior.restarts} for bsds500)")
    parser.add_argument("--prior-lr", type=float,
                        help=f"prior learning rate (default: {PAPER.foreground_prior.learning_rate})")
    parser.add_argument("--prior-max-size", type=int,
                        help="long side of the prior's working resolution, 0 for full size (default: the preset's)")
    parser.add_argument("--prior-average-last", type=int,
                        help="each prior network's output is the mean of its last this many iterations' "
                             f"(default: the preset's; paper {PAPER.foreground_prior.average_last}, "
                             f"fast {FAST.foreground_prior.average_last} for ecssd, "
                             f"{FAST.multiclass_prior.average_last} for bsds500)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=PAPER.name,
                        help="preset of the prior settings not given (default: %(default)s)")
    parser.add_argument("--backprop-scale", type=float,
                        help=f"backprop fits at this fraction of the size (default: {PAPER.backprop.scale})")
    parser.add_argument("--backprop-iterations", type=int,
                        help=f"backprop main-loop iterations at most (default: {PAPER.backprop.max_iterations})")
    parser.add_argument("--backprop-warmup", type=int,
                        help=f"warm-up iterations of backprop-prior-wc (default: {PAPER.backprop.warmup})")
    parser.add_argument("--n-segments", type=int,
                        help=f"SLIC superpixels of backprop (default: {PAPER.backprop.n_segments})")
    parser.add_argument("--compactness", type=float,
                        help=f"SLIC compactness of backprop (default: {PAPER.backprop.compactness:g})")
    parser.add_argument("--min-labels", type=int,
                        help=f"backprop label count that ends training (default: {PAPER.backprop.min_labels})")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help=f"backprop precision (default: {PAPER.backprop.precision})")
    parser.add_argument("--seed", type=int, default=0, help="seed of every method (default: 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                        help="torch device of the prior and backprop (default: auto)")
    parser.add_argument("--out", type=Path, default=Path("dsp-benchmark"),
                        help="results folder (default: dsp-benchmark)")
    parser.set_defaults(run=_run_benchmark)


def _run_benchmark(args):
    from .evaluation.benchmark import markdown_table, plan_jobs, run_benchmark, summarize
    from .evaluation.datasets import load_dataset

    dataset = load_dataset(args.dataset, args.root, split=args.split, offset=args.offset, limit=args.limit)
    jobs = plan_jobs(
        dataset.task, methods=args.methods, preset=args.preset, n_clusters=args.n_clusters, window=args.window,
        seed=args.seed, prior={"iterations": args.prior_iterations, "restarts": args.prior_restarts,
                               "learning_rate": args.prior_lr, "max_size": args.prior_max_size,
                               "average_last": args.prior_average_last},
        backprop={"scale": args.backprop_scale, "max_iterations": args.backprop_iterations,
                  "warmup": args.backprop_warmup, "n_segments": args.n_segments,
                  "compactness": args.compactness, "min_labels": args.min_labels, "precision": args.precision},
        kmeans={"max_samples": args.kmeans_samples, "n_init": args.kmeans_init},
    )
    records = run_benchmark(dataset, args.out, jobs, device=None if args.device == "auto" else args.device,
                            progress=True)
    table = markdown_table(summarize(records))
    (args.out / f"{dataset.name}.md").write_text(table)
    print(table, end="")
    return 0


def _add_figure_command(subparsers, name, help, description, run):
    """A sub-command that draws a figure of one image and its prior."""
    parser = subparsers.add_parser(name, help=help, description=description)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", help="PNG, JPEG or TIFF image (2-D grayscale or RGB)")
    source.add_argument("--sample", choices=sorted(SAMPLES), help="use a bundled sample photograph instead")
    parser.add_argument("--prior", type=Path,
                        help="the image's prior as a TIFF (e.g. from `napari-dsp segment`); computed if absent")
    parser.add_argument("--iterations", type=int, default=PAPER.foreground_prior.iterations,
                        help="prior iterations per network (default: %(default)s)")
    parser.add_argument("--restarts", type=int, default=PAPER.foreground_prior.restarts,
                        help="prior networks (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                        help="torch device for the prior (default: auto)")
    parser.add_argument("--out", type=Path, default=Path(f"dsp-{name}.png"),
                        help=f"figure file, or a folder to write dsp-{name}.png into (default: dsp-{name}.png)")
    parser.set_defaults(run=run, figure_name=f"dsp-{name}.png")
    return parser


def _image_and_prior(args, check):
    """The image of a figure command, its channel axis, and its prior (read or computed).

    ``check(shape, channel_axis)`` validates the figure's options first, so that a bad one fails
    before minutes of prior.
    """
    if args.sample is not None:
        image, channel_axis = load_sample(args.sample), -1
    else:
        image, channel_axis = read_image(args.input)
    check(image.shape, channel_axis)
    if args.prior is not None:
        return image, channel_axis, _read_prior(args.prior, image.shape)
    from tqdm import tqdm

    from .prior import deep_segmentation_prior

    with tqdm(total=args.iterations * args.restarts, desc="prior", unit="it", file=sys.stderr) as bar:
        prior = deep_segmentation_prior(
            image, iterations=args.iterations, restarts=args.restarts,
            learning_rate=PAPER.foreground_prior.learning_rate, channel_axis=channel_axis,
            device=None if args.device == "auto" else args.device, seed=args.seed,
            callback=lambda progress: bar.update(progress.step - bar.n),
        )
    return image, channel_axis, prior


def _save_figure(figure, args):
    """Save to ``--out``: into it under the default name if it is a folder, as PNG if it has no suffix."""
    path = args.out
    if path.is_dir():
        path = path / args.figure_name
    elif not path.suffix:
        path = path.with_suffix(".png")  # what matplotlib would write; print the name it gets
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    print(f"wrote {path}")
    return 0


def _add_spectrum(subparsers):
    parser = _add_figure_command(
        subparsers, "spectrum", "power spectra of image, prior and low-pass (paper fig. 3)",
        "Plot the azimuthally averaged power spectrum of the image, its prior and a low-pass-filtered image.",
        _run_spectrum,
    )
    parser.add_argument("--keep", type=float, default=LOW_PASS_KEEP,
                        help="fraction of FFT coefficients per axis the low-pass keeps (default: %(default)s)")


def _run_spectrum(args):
    from .evaluation.figures import check_spectrum_options, spectrum_figure

    image, channel_axis, prior = _image_and_prior(args, lambda shape, axis: check_spectrum_options(keep=args.keep))
    return _save_figure(spectrum_figure(image, prior, keep=args.keep, channel_axis=channel_axis), args)


def _add_windows(subparsers):
    parser = _add_figure_command(
        subparsers, "windows", "KMeans window-size robustness, image vs prior (paper fig. 6)",
        "Cluster the image and its prior with KMeans at several window sizes.", _run_windows,
    )
    parser.add_argument("--windows", nargs="+", type=int, default=[1, 3, 5, 7], help="window sides (default: %(default)s)")
    parser.add_argument("--n-clusters", "--k", type=int, default=PAPER.kmeans.n_clusters, dest="n_clusters",
                        help="KMeans classes (default: %(default)s; --k is the old name)")


def _run_windows(args):
    from .evaluation.figures import check_window_options, window_figure

    image, channel_axis, prior = _image_and_prior(args, lambda shape, axis: check_window_options(
        shape, windows=args.windows, n_clusters=args.n_clusters, channel_axis=axis, seed=args.seed))
    figure = window_figure(image, prior, windows=args.windows, n_clusters=args.n_clusters,
                           channel_axis=channel_axis, seed=args.seed)
    return _save_figure(figure, args)


def _add_slic(subparsers):
    parser = _add_figure_command(
        subparsers, "slic", "SLIC superpixels on the image vs on the prior (paper fig. 9)",
        "Draw SLIC superpixel boundaries computed on the image and on its prior.", _run_slic,
    )
    parser.add_argument("--n-segments", type=int, default=PAPER.backprop.n_segments,
                        help="SLIC superpixels (default: %(default)s)")
    parser.add_argument("--compactness", type=float, default=PAPER.backprop.compactness,
                        help="SLIC compactness (default: %(default)s)")


def _run_slic(args):
    from .evaluation.figures import check_slic_options, slic_figure

    image, channel_axis, prior = _image_and_prior(args, lambda shape, axis: check_slic_options(
        n_segments=args.n_segments, compactness=args.compactness))
    figure = slic_figure(image, prior, n_segments=args.n_segments, compactness=args.compactness,
                         channel_axis=channel_axis)
    return _save_figure(figure, args)


_COMMANDS = (_add_segment, _add_batch, _add_benchmark, _add_spectrum, _add_windows, _add_slic)


def build_parser():
    """Return the ``napari-dsp`` argument parser with every sub-command."""
    parser = _Parser(prog="napari-dsp", description="Unsupervised segmentation with the Deep Segmentation Prior.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(metavar="COMMAND", required=True, parser_class=_Parser)
    for add in _COMMANDS:
        add(subparsers)
    return parser


def main(argv=None):
    """Run the command line with `argv` (default ``sys.argv[1:]``) and return the exit status.

    Errors in the input or the parameters are reported as one line on
    stderr, without a traceback: exit status 1 for unreadable input or
    output, 2 for a bad parameter, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (InputError, OSError) as error:
        print(f"napari-dsp: error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"napari-dsp: error: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print("napari-dsp: interrupted", file=sys.stderr)
        return 130
