"""Segment many images with the same settings on a Dask cluster: local by default, a running one when given.

Every input file, and every plane of a multi-page TIFF, is one task of
`napari_dsp.pipeline.segment` on a `distributed` cluster. Each task writes the
outputs of ``napari-dsp segment`` (prior, labels, overlay, parameters) named
``<stem>_<hash>``, where the hash covers the file's content and the settings,
so that a re-run finds what is finished and skips it. A stack's planes are
then reassembled, in order, into a prior and a labels stack.

Needs the ``batch`` extra: ``pip install napari-dsp[batch]``. No napari or
Qt here: the CLI's ``napari-dsp batch`` and scripts call it directly.
"""

import contextlib
import glob
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional

import numpy as np

from ._image import check_choice, check_int, check_number, check_seed
from .cli import InputError, _write_outputs, read_image
from .recipes import FOREGROUND, FOREGROUND_RULES, PAPER, PRECISIONS, get_preset

__all__ = ["BatchItem", "BatchResult", "IMAGE_SUFFIXES", "RETRIES", "find_images", "load_settings", "segment_files"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
"""File endings taken from a folder (case-insensitive)."""

RETRIES = 2
"""Default number of times a task that raised an unexpected error is run again."""

SUMMARY = "batch-summary.jsonl"
"""Name of the summary written to the output folder, one JSON line per item."""

_DEVICES = (None, "auto", "cpu", "cuda", "mps")
# Keys of a parameters.json that describe one image rather than the settings; load_settings ignores them.
_IMAGE_KEYS = ("input", "plane", "planes", "channel_axis", "prior")


@dataclass(frozen=True)
class BatchItem:
    """One line of the summary: an image, a plane of a stack, or a reassembled stack.

    Attributes
    ----------
    input : str
        The input file.
    plane : int or None
        Index of the plane in the stack (its leading axes flattened, C
        order); None for a single image or a whole stack.
    status : {"done", "skipped", "failed"}
        ``"skipped"``: its outputs were there from an earlier run.
    seconds : float or None
        Wall time of its task (for a stack, of its planes in this run).
    labels : int or None
        Number of distinct labels in its segmentation.
    outputs : tuple of str
        The files written (or found, when skipped).
    error : str or None
        Why it failed, in one line.
    """

    input: str
    plane: Optional[int]
    status: str
    seconds: Optional[float] = None
    labels: Optional[int] = None
    outputs: tuple = ()
    error: Optional[str] = None


@dataclass(frozen=True)
class BatchResult:
    """Result of `segment_files`.

    Attributes
    ----------
    items : tuple of BatchItem
        Every image, plane and stack, in input order.
    summary : pathlib.Path
        The JSON-lines summary, the same items in the order they finished.
    """

    items: tuple
    summary: Path

    def counts(self) -> dict:
        """Number of items per status, e.g. ``{"done": 3, "skipped": 0, "failed": 1}``."""
        return {status: sum(item.status == status for item in self.items) for status in ("done", "skipped", "failed")}


@dataclass(frozen=True)
class _Task:
    """One call of `segment`: a file, or a plane of a stack. `name` prefixes its outputs in `folder`."""

    path: str
    plane: Optional[int]
    folder: str
    name: str


@dataclass(frozen=True)
class _Stack:
    """A multi-page TIFF of planes of shape `plane_shape` under leading axes `leading`."""

    path: str
    name: str
    leading: tuple
    tasks: tuple  # its planes' _Task, in order


def find_images(inputs) -> list:
    """The image files that `inputs` name: files, folders (their images) and glob patterns.

    Parameters
    ----------
    inputs : str, pathlib.Path or sequence of them
        Files are taken whatever their ending; a folder gives its files
        ending in `IMAGE_SUFFIXES`, sorted by name (not its subfolders);
        a pattern with ``*``, ``?`` or ``[`` is expanded by `glob.glob`
        (``**`` recursive).

    Returns
    -------
    list of pathlib.Path
        Each file once, in the order given.

    Raises
    ------
    ValueError
        If an input names nothing, or nothing at all is found.

    Examples
    --------
    >>> find_images("no/such/folder")
    Traceback (most recent call last):
    ...
    ValueError: inputs: 'no/such/folder' is no file, folder or matching pattern
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found = {}
    for entry in inputs:
        entry = str(entry)
        if glob.has_magic(entry):
            matches = [Path(p) for p in sorted(glob.glob(entry, recursive=True)) if os.path.isfile(p)]
        elif os.path.isdir(entry):
            matches = sorted(p for p in Path(entry).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif os.path.isfile(entry):
            matches = [Path(entry)]
        else:
            raise ValueError(f"inputs: {entry!r} is no file, folder or matching pattern")
        if not matches:
            raise ValueError(f"inputs: {entry!r} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        for path in matches:
            found.setdefault(path.resolve(), path)
    return list(found.values())


def load_settings(path) -> dict:
    """Read the settings of `segment_files` from a ``*_parameters.json`` of an earlier run, or a file like it.

    Parameters
    ----------
    path : str or pathlib.Path
        A JSON object with any of the keys ``method``, ``preset``,
        ``n_clusters``, ``window``, ``rule``, ``center_sigma``,
        ``iterations``, ``restarts``, ``max_size``, ``precision``, ``seed``,
        ``device``,
        ``backprop`` (the options of `napari_dsp.backprop.backprop_segmentation`)
        and ``regions`` (those of `napari_dsp.regions.region_segmentation`).
        Keys that describe one image (``input``, ``plane``, ``planes``,
        ``channel_axis``) are ignored.

    Returns
    -------
    dict
        Keyword arguments of `segment_files` (``backprop`` becomes
        ``backprop_options``, ``regions`` becomes ``region_options``).

    Raises
    ------
    ValueError
        If the file is not a JSON object or has an unknown key.
    OSError
        If it cannot be read.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "params.json"
    >>> _ = path.write_text(json.dumps({"input": "a.png", "method": "kmeans", "iterations": 5}))
    >>> load_settings(path)
    {'method': 'kmeans', 'iterations': 5}
    """
    try:
        values = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"config {path}: not JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"config {path}: expected a JSON object of settings, got {type(values).__name__}")
    allowed = ("method", "preset", "n_clusters", "window", "rule", "center_sigma", "iterations", "restarts",
               "max_size", "seed", "device", "backprop", "regions", "fit_prior", "precision")
    unknown = sorted(set(values) - set(allowed) - set(_IMAGE_KEYS))
    if unknown:
        raise ValueError(f"config {path}: unknown key {', '.join(map(repr, unknown))}; use {', '.join(allowed)}")
    settings = {key: value for key, value in values.items() if key in allowed}
    if "backprop" in settings:
        # A parameters.json records how many pixels were scribbled; a batch has no scribbles.
        options = {k: v for k, v in settings.pop("backprop").items() if k != "scribbled_pixels"}
        settings["backprop_options"] = options
    if "regions" in settings:
        settings["region_options"] = settings.pop("regions")
    return settings


def segment_files(
    inputs,
    out,
    *,
    method: str = "kmeans",
    preset: str = PAPER.name,
    n_clusters: int = PAPER.kmeans.n_clusters,
    window: int = PAPER.kmeans.window,
    rule: str = FOREGROUND_RULES[0],
    center_sigma: float = FOREGROUND.center_sigma,
    iterations: Optional[int] = None,
    restarts: Optional[int] = None,
    max_size: Optional[int] = None,
    precision: str = PRECISIONS[0],
    device=None,
    seed: Optional[int] = None,
    backprop_options: Optional[dict] = None,
    region_options: Optional[dict] = None,
    fit_prior: bool = True,
    scheduler: Optional[str] = None,
    n_workers: Optional[int] = None,
    retries: int = RETRIES,
    progress: bool = True,
) -> BatchResult:
    """Segment every image and every plane of `inputs` with the same settings, on a Dask cluster.

    Outputs are those of ``napari-dsp segment`` for each image, named
    ``<stem>_<hash>_*`` in `out`; a stack's planes go to
    ``<stem>_<hash>_planes/`` and are reassembled into
    ``<stem>_<hash>_prior.tif`` and ``_labels.tif`` of the stack's shape.
    Each file is written to a temporary name and renamed, the parameters
    last, so an item is finished exactly when its ``_parameters.json``
    exists; a re-run skips those. An image that cannot be read or does not
    fit the settings is recorded as failed and the others go on.

    Parameters
    ----------
    inputs : str, pathlib.Path or sequence of them
        Files, folders and glob patterns (see `find_images`). PNG and JPEG
        images are 2-D grayscale or RGB(A); a TIFF may also be a stack
        ``(..., M, N[, C])``, segmented plane by plane.
    out : str or pathlib.Path
        Output folder, created if needed. On a cluster it must be reachable
        at the same path from the workers, and so must the inputs.
    method, preset, n_clusters, window, rule, iterations, restarts, max_size, precision, device, seed, backprop_options
        As in `napari_dsp.pipeline.segment`; every image gets the same
        `seed`. `device` is resolved on each worker (None: its best).
    center_sigma : float, optional
        As in `napari_dsp.pipeline.segment`, for ``method="foreground"``.
    region_options : dict, optional
        As in `napari_dsp.pipeline.segment`, for ``method="regions"``.
    fit_prior : bool, optional
        As in `napari_dsp.pipeline.segment`: False, for ``method="regions"``
        only, fits no prior and writes no prior files.
    scheduler : str or None, optional
        Address of a running Dask scheduler, e.g. ``"tcp://10.0.0.1:8786"``.
        None starts a `distributed.LocalCluster` for this call.
    n_workers : int or None, optional
        Worker processes of the local cluster, one thread each; None: one
        per CPU core this process may use. Only without `scheduler`.
    retries : int, optional
        Times a task that raises an unexpected error (out of memory, a
        full disk) is run again. A task whose worker dies is re-run by the
        scheduler regardless (up to ``distributed.scheduler.allowed-failures``).
    progress : bool, optional
        Show a progress bar and the dashboard address on stderr.

    Returns
    -------
    BatchResult
        One `BatchItem` per image, plane and stack, and the summary path.

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed.
    ValueError
        If an input names nothing or an option is out of range (options
        that depend on an image's size are checked per image instead).

    See Also
    --------
    napari_dsp.pipeline.segment

    Examples
    --------
    >>> result = segment_files("photos/", "photos-dsp", iterations=5, restarts=2,
    ...                        seed=0, n_workers=2)  # doctest: +SKIP
    >>> result.counts()  # doctest: +SKIP
    {'done': 12, 'skipped': 0, 'failed': 0}
    """
    distributed = _import_distributed()
    options = _check_options(
        method=method, preset=preset, n_clusters=n_clusters, window=window, rule=rule, center_sigma=center_sigma,
        iterations=iterations, restarts=restarts, max_size=max_size, device=device, seed=seed,
        backprop_options=backprop_options, region_options=region_options, fit_prior=fit_prior, precision=precision,
    )
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(f"scheduler={scheduler!r} must be an address such as 'tcp://host:8786', or None")
    if n_workers is not None:
        if scheduler is not None:
            raise ValueError("n_workers sizes the local cluster; leave it None when a scheduler is given")
        check_int("n_workers", n_workers)
    check_int("retries", retries, low=0)
    paths = find_images(inputs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    order = {}  # (path, plane) -> BatchItem, in input order
    tasks, stacks = [], []
    for path in paths:
        _plan(path, out, options, order, tasks, stacks)

    summary = out / SUMMARY
    with open(summary, "w") as log:

        def record(item):
            order[item.input, item.plane] = item
            log.write(json.dumps(asdict(item)) + "\n")
            log.flush()  # a run stopped half-way still tells what it finished

        for item in order.values():
            if item.status != "pending":
                record(item)
        _assemble_finished(stacks, order, out, record)  # stacks whose planes were all finished before
        if tasks:  # a re-run with nothing left to do starts no cluster
            with _client(distributed, scheduler, n_workers) as client:
                if progress:
                    _print_dashboard(client)
                futures = {
                    client.submit(_run_task, task, options, retries=retries, pure=False): task for task in tasks
                }
                with _progress_bar(len(futures), progress) as bar:
                    for future in distributed.as_completed(futures):
                        task = futures.pop(future)
                        record(_collect(future, task))
                        bar.update()
                        if task.plane is not None:
                            _assemble_finished(stacks, order, out, record)
    return BatchResult(tuple(order.values()), summary)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "batch segmentation needs dask.distributed: pip install napari-dsp[batch] (or 'dask[distributed]')"
        ) from None
    return distributed


def _check_options(*, method, preset, n_clusters, window, rule, iterations, restarts, max_size, device, seed,
                   backprop_options, region_options=None, fit_prior=True, precision=PRECISIONS[0],
                   center_sigma=FOREGROUND.center_sigma):
    """The options of `segment` every task gets, checked as far as they do not depend on an image.

    Defaults are filled in from the preset, so that the same settings given
    either way hash alike (a re-run with a parameters.json as config skips).
    """
    from .backprop import BackpropOptions
    from .pipeline import METHODS, PRIOR_SETTINGS, check_fit_prior, checked_region_options, prior_recipe

    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; choose one of {', '.join(map(repr, METHODS))}")
    check_fit_prior(method, fit_prior)
    recipe = get_preset(preset)
    check_int("n_clusters", n_clusters)
    check_int("window", window)
    if window % 2 == 0:
        raise ValueError(f"window={window} must be odd (1, 3, 5, 7, ...) so that the window is centred on its pixel")
    check_choice("rule", rule, FOREGROUND_RULES)
    check_number("center_sigma", center_sigma, 0)
    prior = prior_recipe(method, recipe)
    iterations = prior.iterations if iterations is None else iterations
    restarts = prior.restarts if restarts is None else restarts
    max_size = prior.max_size if max_size is None else max_size
    check_int("iterations", iterations)
    check_int("restarts", restarts)
    check_int("max_size", max_size, low=0)
    seed = check_seed(seed)
    check_choice("device", device, _DEVICES)
    check_choice("precision", precision, PRECISIONS)
    unknown = sorted(set(backprop_options or {}) - {f.name for f in fields(BackpropOptions)})
    if unknown:
        raise ValueError(f"backprop_options has no option {', '.join(map(repr, unknown))}")
    if method == "backprop":  # BackpropOptions checks the values that do not depend on the image
        backprop_options = asdict(BackpropOptions.from_preset(preset, **(backprop_options or {})))
    options = {
        "method": method, "preset": preset, "n_clusters": n_clusters, "window": window, "rule": rule,
        "iterations": iterations, "restarts": restarts, "max_size": max_size,
        "device": None if device == "auto" else device, "seed": seed,
        "backprop_options": backprop_options if method == "backprop" else None,
    }
    if method == "regions":
        # Filled in, so that the same settings given either way hash alike; absent for the other
        # methods, so that their hashes (and finished outputs) stay what they were.
        options["region_options"] = checked_region_options(region_options)
    if method == "foreground":
        # Absent for the other methods, so that their hashes (and finished outputs) stay what they were.
        options["center_sigma"] = center_sigma
    if not fit_prior:
        # No prior, so no prior settings in the hash either; absent when True, so that names stay as they were.
        for key in PRIOR_SETTINGS:
            options.pop(key, None)
        options["fit_prior"] = False
    elif precision != PRECISIONS[0]:
        options["precision"] = precision  # absent for float32, so that names stay as they were
    return options


def _plan(path, out, options, order, tasks, stacks):
    """Add `path`'s items to `order` (pending, skipped or failed) and its pending tasks to `tasks` and `stacks`."""
    key = str(path)
    try:
        name = f"{path.stem}_{_digest(path, options)}"
        leading = _stack_axes(path)
    except (OSError, InputError) as error:
        order[key, None] = BatchItem(key, None, "failed", error=_one_line(error))
        return
    if _finished(out, name):
        order[key, None] = BatchItem(key, None, "skipped", outputs=_outputs(out, name))
        return
    if not leading:
        order[key, None] = BatchItem(key, None, "pending")
        tasks.append(_Task(key, None, str(out), name))
        return
    folder = out / f"{name}_planes"
    planes = []
    for plane in range(int(np.prod(leading))):
        task = _Task(key, plane, str(folder), f"{name}_z{plane:04d}")
        planes.append(task)
        if _finished(folder, task.name):
            order[key, plane] = BatchItem(key, plane, "skipped", outputs=_outputs(folder, task.name))
        else:
            order[key, plane] = BatchItem(key, plane, "pending")
            tasks.append(task)
    order[key, None] = BatchItem(key, None, "pending")
    stacks.append(_Stack(key, name, leading, tuple(planes)))


def _digest(path, options):
    """Ten hex digits of the file's bytes and the settings: equal names mean equal outputs."""
    from .pipeline import prior_recipe

    average_last = prior_recipe(options["method"], get_preset(options["preset"])).average_last
    if average_last != 1:
        # The preset's averaging is a setting of the prior too; left out when it is the paper's, so that
        # outputs from before the option existed keep their names.
        options = {**options, "average_last": average_last}
    digest = hashlib.blake2b(json.dumps(options, sort_keys=True).encode(), digest_size=5)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stack_axes(path):
    """The leading axes of a TIFF stack, or () for one 2-D grayscale or colour image (or a PNG/JPEG)."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return ()
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
    except (tifffile.TiffFileError, ValueError, IndexError):
        raise InputError(f"{path}: cannot read it as a TIFF image") from None
    # The same rule as read_image: a last axis of 1 to 4 holds channels.
    spatial = 3 if len(shape) >= 3 and shape[-1] <= 4 else 2
    return tuple(shape[:-spatial])


def _finished(folder, name):
    return (Path(folder) / f"{name}_parameters.json").is_file()


def _outputs(folder, name):
    return tuple(str(p) for p in sorted(Path(folder).glob(f"{glob.escape(name)}_*")) if p.is_file())


def _one_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _run_task(task, options):
    """Segment one image or plane and write its outputs; runs on a worker. Bad input is a failed item."""
    import torch

    from .pipeline import segment

    # Tasks are the parallelism: one intra-op thread each keeps the workers' threads from fighting for cores.
    # Set here, in the thread that runs the task, since OpenMP thread counts are per thread.
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        image, channel_axis = _read(task)
        result = segment(image, channel_axis=channel_axis, **options)
    except (InputError, ValueError) as error:
        return BatchItem(task.path, task.plane, "failed", seconds=time.perf_counter() - start, error=_one_line(error))
    parameters = {"input": task.path, **({} if task.plane is None else {"plane": task.plane}), **result.parameters}
    written = _write_atomically(Path(task.folder), task.name, image, channel_axis, result, parameters)
    return BatchItem(
        task.path, task.plane, "done", seconds=time.perf_counter() - start,
        labels=int(np.unique(result.labels).size), outputs=tuple(map(str, written)),
    )


def _read(task):
    """The image of a task and its channel axis, by the rules of `read_image`."""
    if task.plane is None:
        return read_image(task.path)
    import tifffile

    leading = _stack_axes(Path(task.path))
    with tifffile.TiffFile(task.path) as tif:
        series = tif.series[0]
        if len(series.pages) == np.prod(leading):
            plane = tif.asarray(key=task.plane, series=0)
        else:  # planes not stored one per page (e.g. one page of several samples): read all, keep one
            plane = series.asarray().reshape(-1, *series.shape[len(leading):])[task.plane]
    if plane.ndim == 3 and plane.shape[-1] in (1, 2):  # grayscale, with alpha if 2
        return plane[..., 0], None
    if plane.ndim == 3:
        return plane[..., :3], -1
    return plane, None


def _write_atomically(folder, name, image, channel_axis, result, parameters):
    """`_write_outputs` into a temporary folder beside `folder`, then renamed in, parameters last."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder))
    try:
        written = _write_outputs(temporary, name, image, channel_axis, result, parameters)
        # _write_outputs returns the parameters last: once it is in place, the item counts as finished.
        for path in written:
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return [folder / path.name for path in written]


def _collect(future, task):
    """The BatchItem of a finished future; an error that outlasted the retries becomes a failed item."""
    if future.status == "error":
        error = future.exception()
        return BatchItem(task.path, task.plane, "failed", error=f"{type(error).__name__}: {_one_line(error)}")
    return future.result()


def _assemble_finished(stacks, order, out, record):
    """Reassemble every stack whose planes are all finished, and record it."""
    for stack in list(stacks):
        planes = [order[stack.path, task.plane] for task in stack.tasks]
        if any(item.status == "pending" for item in planes):
            continue
        stacks.remove(stack)
        failed = [item.plane for item in planes if item.status == "failed"]
        if failed:
            error = f"plane {failed[0]} failed: {planes[failed[0]].error}"
            if len(failed) > 1:
                error = f"{len(failed)} planes failed, first {error}"
            record(BatchItem(stack.path, None, "failed", error=error))
            continue
        record(_assemble(stack, out, sum(item.seconds or 0.0 for item in planes)))


def _assemble(stack, out, seconds):
    """Write the stack's prior and labels, its planes in order, and its parameters last."""
    import tifffile

    folder = out / f"{stack.name}_planes"
    written, labels = [], set()

    def planes(key):
        for task in stack.tasks:
            plane = tifffile.imread(folder / f"{task.name}_{key}.tif")
            if key == "labels":
                labels.update(np.unique(plane).tolist())
            yield plane

    for key in ("prior", "labels"):
        if not (folder / f"{stack.tasks[0].name}_{key}.tif").is_file():  # no prior where none was fitted
            continue
        first = tifffile.imread(folder / f"{stack.tasks[0].name}_{key}.tif")
        target = out / f"{stack.name}_{key}.tif"
        temporary = target.with_name(f".{target.name}.{os.getpid()}")
        # Written from a generator of planes, so that only one plane is in memory.
        tifffile.imwrite(temporary, planes(key), shape=stack.leading + first.shape, dtype=first.dtype)
        os.replace(temporary, target)
        written.append(target)
    parameters = json.loads((folder / f"{stack.tasks[0].name}_parameters.json").read_text())
    del parameters["plane"]
    parameters["planes"] = list(stack.leading)
    target = out / f"{stack.name}_parameters.json"
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_text(json.dumps(parameters, indent=2) + "\n")
    os.replace(temporary, target)
    written.append(target)
    return BatchItem(stack.path, None, "done", seconds=seconds, labels=len(labels), outputs=tuple(map(str, written)))


@contextlib.contextmanager
def _client(distributed, address, n_workers):
    """A client of the scheduler at `address`, or of a LocalCluster started and closed with it."""
    if address is not None:
        with distributed.Client(address) as client:
            yield client
        return
    # Processes, not threads: the prior holds the GIL between torch operators. Only errors are logged: a worker
    # slow to stop at the end is killed with a warning that would read as a failure.
    with distributed.LocalCluster(n_workers=n_workers or _usable_cores(), threads_per_worker=1, processes=True,
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        yield client


def _usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _print_dashboard(client):
    # A scheduler started without its web server has no dashboard to point to.
    if "dashboard" in client.scheduler_info().get("services", {}):
        print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr)


def _progress_bar(total, show):
    from tqdm import tqdm

    return tqdm(total=total, desc="batch", unit="image", file=sys.stderr, disable=not show, dynamic_ncols=True)
