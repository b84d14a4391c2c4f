"""The benchmark: every method on the same dataset images, scored, timed and resumable.

One record per (image, method) is appended to a JSON Lines file as soon as
it is done, so an interrupted run continues where it stopped. A record is
reused only for the same method, settings and file contents: it holds hashes
of the image's and the ground truth's bytes, so a replaced file is computed
again. Each image's prior is computed once, cached as ``.npz`` under the
output folder (named by the settings and the image's hash) and shared by all
prior-based methods; its time is added to each of their times and also
reported on its own. An image or ground truth that cannot be read is
recorded as failed, with the reason, and the run goes on; the table counts
and lists the failures.

Methods (``--methods`` families):

========================  ==============================================================
``blank``                 one label for the whole image (the floor every table needs)
``kmeans-raw``            window KMeans on the image itself
``kmeans-lowpass``        window KMeans on a low-pass-filtered image (`spectrum.low_pass`)
``kmeans-prior``          window KMeans on the Deep Segmentation Prior
``kmeans-*-saliency``     foreground task: the same, the foreground class named by saliency
``foreground-raw``        object-level foreground (`foreground.foreground_segmentation`) of the image
``foreground-prior``      the same on the prior
``foreground-hybrid``     saliency on the prior, the cut on the image (`segment`'s ``"foreground"``)
``doubledip``             Double-DIP hinted by the image's saliency (opt-in: thousands of steps)
``regions-raw``           regions merged on a superpixel graph (`regions.region_segmentation`)
``regions-prior``         the same on the prior
``backprop-raw``          Kanezaki 2018: SLIC on the image, constant learning rate
``backprop-prior``        the same with SLIC on the prior (DSP paper, section 5)
``backprop-prior-wc``     the prior plus warm-up and cosine restarts (paper 5.2)
========================  ==============================================================

On ECSSD (foreground task) the KMeans methods are `foreground_background`
(``kmeans-raw`` and ``kmeans-prior`` with the first round's border rule);
on BSDS500 (multi-class) each KMeans family runs for every k in `n_clusters`
(rows ``kmeans-prior-k3`` etc.) and the region and backprop methods are
available.
"""

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._image import check_seed, is_int
from ..recipes import DOUBLE_DIP, FOREGROUND, LOW_PASS_KEEP, PAPER, REGIONS, get_preset
from . import metrics
from .datasets import Dataset, SampleError

__all__ = [
    "BSDS500_CLUSTERS",
    "FAMILIES",
    "BenchmarkJob",
    "markdown_table",
    "plan_jobs",
    "read_records",
    "run_benchmark",
    "summarize",
]

_FOREGROUND_FAMILIES = (
    "blank", "kmeans-raw", "kmeans-lowpass", "kmeans-prior", "kmeans-raw-saliency", "kmeans-prior-saliency",
    "foreground-raw", "foreground-prior", "foreground-hybrid", "doubledip",
)
_MULTICLASS_FAMILIES = (
    "blank", "kmeans-raw", "kmeans-lowpass", "kmeans-prior", "regions-raw", "regions-prior",
    "backprop-raw", "backprop-prior", "backprop-prior-wc",
)
FAMILIES = tuple(dict.fromkeys(_FOREGROUND_FAMILIES + _MULTICLASS_FAMILIES))
_OPT_IN = ("doubledip",)  # run only when named

_TASKS = ("foreground", "multiclass")
_BACKPROP_OPTIONS = ("scale", "max_iterations", "warmup", "n_segments", "compactness", "min_labels", "precision")
BSDS500_CLUSTERS = (2, 3, 4, 5, 6)
"""k of the KMeans rows on BSDS500 (the dataset's images hold 2 to 6 regions per annotator, typically)."""


@dataclass(frozen=True)
class BenchmarkJob:
    """One method of the benchmark with every setting that determines its output.

    Attributes
    ----------
    method : str
        Row name, e.g. ``"kmeans-prior-k3"``.
    family : str
        One of `FAMILIES`.
    settings : dict
        JSON-serialisable settings; two runs share results only when these
        are equal.
    """

    method: str
    family: str
    settings: dict

    @property
    def key(self) -> str:
        """Short hash of the method and its settings, the resume key."""
        text = json.dumps([self.method, self.settings], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @property
    def needs_prior(self) -> bool:
        """Whether the job runs on (or is guided by) the Deep Segmentation Prior."""
        return "prior" in self.settings


def _merge(name, given, defaults, allowed=None):
    """`defaults` updated with the entries of `given` that are not None; unknown keys raise."""
    allowed = sorted(defaults if allowed is None else allowed)
    unknown = sorted(set(given or {}) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {name} option(s) {unknown}; use {allowed}")
    return {**defaults, **{k: v for k, v in (given or {}).items() if v is not None}}


def plan_jobs(
    task, *, methods=None, preset=PAPER.name, n_clusters=BSDS500_CLUSTERS, window=PAPER.kmeans.window, prior=None,
    backprop=None, kmeans=None, seed=0,
):
    """List the jobs of a benchmark run.

    Parameters
    ----------
    task : {"foreground", "multiclass"}
        The dataset's task (`Dataset.task`).
    methods : sequence of str, optional
        Families from `FAMILIES` (default: all that apply to the task).
    n_clusters : sequence of int, optional
        k of the KMeans rows on a multi-class dataset.
    window : int, optional
        KMeans window side.
    preset : {"paper", "fast"}, optional
        Preset (`napari_dsp.recipes`) of the prior settings not given in
        `prior`: its foreground prior for the foreground task, its
        multi-class prior otherwise.
    prior : dict, optional
        ``iterations``, ``restarts``, ``learning_rate``, ``max_size``,
        ``average_last`` of the prior; missing entries take the preset's
        values for the task.
    backprop : dict, optional
        Options of `backprop_segmentation` shared by the backprop rows
        (``scale``, ``max_iterations``, ``warmup``, ``n_segments``,
        ``compactness``, ``min_labels``, ``precision``); missing entries
        take the paper's values.
    kmeans : dict, optional
        ``max_samples`` and ``n_init`` of the KMeans rows (practical mode:
        fewer samples and initialisations); unset entries keep
        `kmeans_segmentation`'s defaults and are left out of the settings.
    seed : int, optional
        Seed of every method.

    Returns
    -------
    list of BenchmarkJob

    Raises
    ------
    ValueError
        For an unknown family or option, or a backprop family on the
        foreground task.

    Examples
    --------
    >>> [job.method for job in plan_jobs("multiclass", methods=["kmeans-prior"], n_clusters=[2, 3])]
    ['kmeans-prior-k2', 'kmeans-prior-k3']
    """
    if task not in _TASKS:
        raise ValueError(f"task={task!r} is not one of {', '.join(_TASKS)}; use Dataset.task")
    seed = check_seed(seed)
    allowed = _FOREGROUND_FAMILIES if task == "foreground" else _MULTICLASS_FAMILIES
    methods = list([m for m in allowed if m not in _OPT_IN] if methods is None else methods)
    unknown = [m for m in methods if m not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; choose from {', '.join(FAMILIES)}")
    misplaced = [m for m in methods if m not in allowed]
    if misplaced:
        raise ValueError(
            f"method {misplaced[0]!r} does not apply to the {task} task; choose from {', '.join(allowed)}"
        )
    n_clusters = list(n_clusters)
    if task == "multiclass" and (not n_clusters or not all(is_int(k) and k >= 1 for k in n_clusters)):
        raise ValueError(f"n_clusters={n_clusters} must be one or more positive integers (numbers of classes)")
    n_clusters = [int(k) for k in n_clusters]
    recipe = get_preset(preset)
    prior_recipe = recipe.foreground_prior if task == "foreground" else recipe.multiclass_prior
    prior_settings = _merge("prior", prior, {**asdict(prior_recipe), "seed": seed})
    if prior_settings["average_last"] == 1:
        # The paper's value stays out of the settings, so that results written before the option existed resume.
        del prior_settings["average_last"]
    backprop_settings = _merge("backprop", backprop,
                               {name: getattr(PAPER.backprop, name) for name in _BACKPROP_OPTIONS})
    # No defaults here: unset KMeans options stay out of the settings (and the resume keys).
    kmeans_settings = _merge("kmeans", kmeans, {}, allowed=("max_samples", "n_init"))

    jobs = []
    for family in methods:
        if family == "blank":
            jobs.append(BenchmarkJob("blank", family, {}))
        elif family.startswith("kmeans"):
            settings = {"window": window, "seed": seed, **kmeans_settings}
            if "prior" in family:
                settings["prior"] = prior_settings
            if family == "kmeans-lowpass":
                settings["keep"] = LOW_PASS_KEEP
            if task == "foreground":
                settings["rule"] = "saliency" if family.endswith("saliency") else "border"
                if family.endswith("saliency"):
                    # Recorded, not passed: the rule's saliency map uses the recipe's centre prior, and a
                    # row made with another must not be resumed as this one.
                    settings["center_sigma"] = FOREGROUND.center_sigma
                jobs.append(BenchmarkJob(family, family, settings))
            else:
                jobs.extend(BenchmarkJob(f"{family}-k{k}", family, {**settings, "k": k}) for k in n_clusters)
        elif family == "doubledip":
            jobs.append(BenchmarkJob(family, family, {**asdict(DOUBLE_DIP), "seed": seed}))
        elif family.startswith(("foreground", "regions")):
            settings = {**asdict(FOREGROUND if family.startswith("foreground") else REGIONS), "seed": seed}
            if family.endswith(("prior", "hybrid")):
                settings["prior"] = prior_settings
            jobs.append(BenchmarkJob(family, family, settings))
        else:
            settings = {**backprop_settings, "seed": seed}
            if family == "backprop-prior-wc":
                settings["cosine_annealing"] = True
            else:
                settings.update(warmup=0, cosine_annealing=False)
            if family != "backprop-raw":
                settings["prior"] = prior_settings
            jobs.append(BenchmarkJob(family, family, settings))
    return jobs


def _segment(job, image, prior, device):
    """Run one job on an RGB image (channel axis -1); `prior` is None unless the job needs it."""
    settings = job.settings
    if job.family == "blank":
        return np.ones(image.shape[:2], np.int32)
    if job.family.startswith("kmeans"):
        from ..kmeans import foreground_background, kmeans_segmentation
        from ..spectrum import low_pass

        if job.family == "kmeans-lowpass":
            source = low_pass(image, keep=settings["keep"], channel_axis=-1)
        else:
            source = prior if "prior" in job.family else image
        options = {k: settings[k] for k in ("window", "seed", "max_samples", "n_init") if k in settings}
        if "k" not in settings:
            return foreground_background(source, channel_axis=-1, rule=settings["rule"], **options)
        return kmeans_segmentation(source, settings["k"], channel_axis=-1, **options)
    source = prior if job.family.endswith("prior") else image
    options = {k: v for k, v in settings.items() if k != "prior"}
    if job.family.startswith("foreground"):
        from ..foreground import foreground_segmentation

        if job.family == "foreground-hybrid":
            return foreground_segmentation(image, prior=prior, channel_axis=-1, **options).mask
        return foreground_segmentation(source, channel_axis=-1, **options).mask
    if job.family.startswith("regions"):
        from ..regions import region_segmentation

        return region_segmentation(source, channel_axis=-1, **options)
    if job.family == "doubledip":
        from ..doubledip import double_dip_segmentation

        return double_dip_segmentation(image, channel_axis=-1, device=device, **options).mask
    from ..backprop import backprop_segmentation

    options = {k: settings[k] for k in _BACKPROP_OPTIONS}
    return backprop_segmentation(
        image, guide=prior, cosine_annealing=settings["cosine_annealing"], channel_axis=-1,
        device=device, seed=settings["seed"], **options,
    )


def _score(labels, truths, task):
    if task == "foreground":
        return {
            "iou": metrics.foreground_iou(labels, truths[0]),
            "best_iou": metrics.best_assignment_iou(labels, truths[0]),
        }
    dfc = metrics.dfc_score(labels, truths)
    return {
        "dfc_all_sum": float(dfc.all.sum()), "dfc_all_n": int(dfc.all.size),
        "dfc_fine_sum": float(dfc.fine.sum()), "dfc_fine_n": int(dfc.fine.size),
        "dfc_coarse_sum": float(dfc.coarse.sum()), "dfc_coarse_n": int(dfc.coarse.size),
        "covering": metrics.segmentation_covering(labels, truths),
        "pri": metrics.probabilistic_rand_index(labels, truths),
        "vi": metrics.variation_of_information(labels, truths),
        "labels": int(np.unique(labels).size),
    }


def _prior_key(settings):
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _cached_prior(cache_dir, sample, image_sha, settings, device):
    """The prior of `sample` (file hash `image_sha`) under `settings`, cached or computed now; and its seconds."""
    path = cache_dir / f"{sample.name}-{image_sha}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return stored["prior"], float(stored["seconds"])
    from ..prior import deep_segmentation_prior

    start = time.perf_counter()
    prior = deep_segmentation_prior(
        sample.image, iterations=settings["iterations"], restarts=settings["restarts"],
        learning_rate=settings["learning_rate"], max_size=settings["max_size"],
        average_last=settings.get("average_last", 1), channel_axis=-1, device=device, seed=settings["seed"],
    )
    seconds = time.perf_counter() - start
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed, so an interrupted write never leaves a truncated cache.
    partial = cache_dir / f"{sample.name}-{image_sha}.partial.npz"
    np.savez_compressed(partial, prior=prior, seconds=seconds)
    partial.replace(path)
    return prior, seconds


def read_records(path):
    """Read the records of a benchmark JSON Lines file (missing file: none).

    Lines that are not JSON objects, such as a line cut short by a killed
    run, are skipped.

    Parameters
    ----------
    path : str or path-like
        The ``.jsonl`` file.

    Returns
    -------
    list of dict
    """
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _open_for_append(path):
    """Open the results file for appending, on a fresh line even if a killed run left half of one."""
    sink = path.open("a")
    if sink.tell():
        with path.open("rb") as existing:
            existing.seek(-1, 2)
            if existing.read(1) != b"\n":
                sink.write("\n")
    return sink


def run_benchmark(dataset: Dataset, out_dir, jobs, *, device=None, progress=False):
    """Run `jobs` on every image of `dataset`, appending results to ``<out_dir>/<dataset>.jsonl``.

    Records already in the file for the same image, method, settings and
    file contents (image and ground truth) are kept and not recomputed. An
    image whose files cannot be read gets a failed record (``"error"``
    instead of ``"metrics"``) for each job, and the run goes on.

    Parameters
    ----------
    dataset : Dataset
        From `napari_dsp.evaluation.datasets.load_dataset`.
    out_dir : str or path-like
        Folder of the results file and of the prior cache (``priors/``).
    jobs : sequence of BenchmarkJob
        From `plan_jobs` for ``dataset.task``.
    device : str, optional
        Torch device of the prior and backprop; None picks the best.
    progress : bool, optional
        Show a progress bar on stderr.

    Returns
    -------
    list of dict
        The records of these images and jobs (new and reused, failed ones
        included), the input of `summarize`.

    Raises
    ------
    napari_dsp.progress.Cancelled, KeyboardInterrupt
        Passed on; everything finished before is already on disk.
    """
    from tqdm import tqdm

    from .._device import resolve_device

    device = str(resolve_device(device))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / f"{dataset.name}.jsonl"
    # Later lines win: after a file was replaced, its newest records are the valid ones.
    existing = {(r.get("image"), r.get("key"), r.get("image_sha"), r.get("truth_sha")): r
                for r in read_records(results)}
    records = []
    bar = tqdm(total=len(dataset), desc=dataset.name, unit="image", disable=not progress, dynamic_ncols=True)
    with bar, _open_for_append(results) as sink:
        for index, name in enumerate(dataset.names):
            try:
                image_sha, truth_sha = dataset.digests(index)
                failure = None
            except SampleError as error:
                image_sha = truth_sha = None
                failure = str(error)
            pending = []
            for job in jobs:
                found = existing.get((name, job.key, image_sha, truth_sha))
                if found is None:
                    pending.append(job)
                else:
                    records.append(found)
            if pending and failure is None:
                try:
                    sample = dataset[index]
                except SampleError as error:
                    failure = str(error)
            if pending and failure is not None:
                bar.write(f"{dataset.name}: skipping {failure}")
            for job in pending:
                bar.set_postfix_str(job.method)
                record = {"dataset": dataset.name, "image": name, "method": job.method, "key": job.key,
                          "settings": job.settings, "image_sha": image_sha, "truth_sha": truth_sha}
                if failure is not None:
                    record["error"] = failure
                else:
                    prior, prior_seconds = None, None
                    if job.needs_prior:
                        prior_settings = job.settings["prior"]
                        cache = out_dir / "priors" / f"{dataset.name}-{_prior_key(prior_settings)}"
                        prior, prior_seconds = _cached_prior(cache, sample, image_sha, prior_settings, device)
                    start = time.perf_counter()
                    labels = _segment(job, sample.image, prior, device)
                    seconds = time.perf_counter() - start
                    record.update(device=device, seconds=seconds, prior_seconds=prior_seconds,
                                  metrics=_score(labels, sample.truths, dataset.task))
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                records.append(record)
            bar.update()
    return records


def summarize(records):
    """Average records per method and settings, in first-seen order.

    Foreground rows average the IoUs over images; multi-class rows average
    the DFC IoUs over all ground-truth segments of all images (the
    protocol's definition) and the other metrics over images. Seconds per
    image include the prior's for prior-based methods. A repeated record
    (same image, method and settings) counts once, the last one written:
    after an image was replaced, that is the one of its new contents.
    Failed records count in ``failed`` and not in the means.

    Parameters
    ----------
    records : sequence of dict
        From `run_benchmark` or `read_records`.

    Returns
    -------
    list of dict
        One row per (method, settings) with ``method``, ``images`` (scored),
        ``failed`` (a list of ``(image, reason)``), ``device``, ``settings``,
        ``seconds``, ``prior_seconds`` and the metric means (None where no
        image was scored).
    """
    latest = {}
    for record in records:
        # Two processes sharing a results file may both finish the same image; count it once.
        latest[(record["image"], record["key"])] = record
    groups = {}
    for record in latest.values():
        groups.setdefault((record["method"], record["key"]), []).append(record)
    rows = []
    for (method, _), group in groups.items():
        scored = [r for r in group if "metrics" in r]
        row = {
            "method": method,
            "images": len(scored),
            "failed": [(r["image"], r["error"]) for r in group if "metrics" not in r],
            "device": ", ".join(sorted({r["device"] for r in scored})),
            "settings": group[0]["settings"],
            "seconds": None,
            "prior_seconds": None,
        }
        rows.append(row)
        if not scored:
            continue
        values = {name: np.array([r["metrics"][name] for r in scored], dtype=float) for name in scored[0]["metrics"]}
        prior_seconds = [r["prior_seconds"] for r in scored if r["prior_seconds"] is not None]
        row["seconds"] = float(np.mean([r["seconds"] + (r["prior_seconds"] or 0.0) for r in scored]))
        row["prior_seconds"] = float(np.mean(prior_seconds)) if prior_seconds else None
        if "iou" in values:
            row.update(iou=values["iou"].mean(), best_iou=values["best_iou"].mean())
        else:
            for part in ("all", "fine", "coarse"):
                row[f"miou_{part}"] = values[f"dfc_{part}_sum"].sum() / values[f"dfc_{part}_n"].sum()
            for name in ("covering", "pri", "vi", "labels"):
                row[name] = values[name].mean()
    return rows


def _describe(settings):
    parts = []
    if "window" in settings:
        parts.append(f"w={settings['window']}")
    if "max_samples" in settings or "n_init" in settings:
        parts.append(f"KMeans on {settings.get('max_samples', PAPER.kmeans.max_samples)} px, "
                     f"{settings.get('n_init', PAPER.kmeans.n_init)} init")
    if "keep" in settings:
        parts.append(f"low-pass {settings['keep']:.0%}")
    if "max_iterations" in settings:
        parts.append(
            f"SLIC {settings['n_segments']}/{settings['compactness']:g}, scale {settings['scale']:g}, "
            f"<= {settings['max_iterations']} it"
        )
        if settings["cosine_annealing"]:
            parts.append(f"warm-up {settings['warmup']} + cosine")
    if "rule" in settings:
        parts.append(f"{settings['rule']} rule")
    if "max_iterations" not in settings and "window" not in settings:
        # The object-level foreground, regions and Double-DIP: every option, as set.
        parts += [f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                  for key, value in settings.items() if key not in ("seed", "prior")]
    if "prior" in settings:
        prior = settings["prior"]
        size = f" at {prior['max_size']} px" if prior.get("max_size") else ""
        average = f", mean of the last {prior['average_last']}" if prior.get("average_last", 1) > 1 else ""
        parts.append(f"prior {prior['iterations']} it x {prior['restarts']}{size}{average}")
    return "; ".join(parts) or "-"


def markdown_table(rows):
    """Format `summarize` rows as a Markdown table, followed by the list of failed images if any.

    Parameters
    ----------
    rows : sequence of dict
        From `summarize`, all of one task.

    Returns
    -------
    str
        The table, one line per method, ending in a newline.
    """
    if not rows:
        return "(no results)\n"
    foreground = not any("miou_all" in row for row in rows)
    if foreground:
        columns = ["method", "images", "failed", "IoU", "best-assignment IoU"]
        metric_cells = [("iou", "{:.3f}"), ("best_iou", "{:.3f}")]
    else:
        columns = ["method", "images", "failed", "mIoU All", "mIoU Fine", "mIoU Coarse", "covering", "PRI", "VI",
                   "labels"]
        metric_cells = [(k, "{:.3f}") for k in ("miou_all", "miou_fine", "miou_coarse", "covering", "pri", "vi")]
        metric_cells.append(("labels", "{:.1f}"))
    columns += ["s/image", "of which prior", "device", "settings"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    failures = {}
    for row in rows:
        cells = [row["method"], str(row["images"]), str(len(row["failed"]))]
        cells += ["-" if row.get(key) is None else form.format(row[key]) for key, form in metric_cells]
        cells += ["-" if row[key] is None else f"{row[key]:.1f}" for key in ("seconds", "prior_seconds")]
        cells += [row["device"] or "-", _describe(row["settings"])]
        lines.append("| " + " | ".join(cells) + " |")
        failures.update(row["failed"])
    if failures:
        lines.append("")
        lines.append(f"Failed ({len(failures)} image(s), not in the means):")
        lines.extend(f"- {image}: {reason}" for image, reason in sorted(failures.items()))
    return "\n".join(lines) + "\n"
