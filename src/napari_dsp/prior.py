"""The Deep Segmentation Prior: a Deep Image Prior fitted for a few iterations.

The prior keeps the surfaces of an image and drops fine texture; every
segmenter in this package clusters it rather than the raw image.
"""

import copy
import math
import queue
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from numpy.typing import ArrayLike
from skimage.transform import resize

from . import _dip
from ._device import LOW_DTYPES, resolve_device
from ._heap import retained_heap
from ._image import check_channel_axis, check_choice, check_int, check_number, check_seed, prepare_image, spatial_shape
from ._memory import available_bytes as _available_bytes
from .progress import Progress, report
from .recipes import PAPER, PRECISIONS, PriorRecipe, get_preset

__all__ = ["STRATEGIES", "PriorEstimate", "deep_segmentation_prior", "estimate_prior", "working_shape"]

STRATEGIES = ("auto", "sequential", "threads", "batched")


class _Stopped(Exception):
    """Unwinds a worker thread after the calling thread stopped the fit."""


# Below this many padded pixels a network's operators are too small to split
# between cores: OpenMP's barriers cost more than they save, tens of times
# more when other processes load the cores.
_SHARED_CORES_MIN_PIXELS = 256 * 256
# Activations and gradients of one restart per padded pixel, measured (peak RSS) at 512 and 1024 px.
_BYTES_PER_PIXEL = 1100


def _concurrent_restarts(wanted, padded, available):
    """How many restarts fit in memory at once, keeping all of them within half of `available`."""
    if available is None:
        return wanted
    return max(1, min(wanted, available // (2 * _BYTES_PER_PIXEL * padded[0] * padded[1])))


def working_shape(shape, max_size) -> tuple:
    """The (height, width) the prior is fitted at: `shape` shrunk so that its long side is at most `max_size`.

    ``max_size=0`` keeps the full resolution.

    Examples
    --------
    >>> working_shape((400, 600), 256)
    (171, 256)
    >>> working_shape((400, 600), 0)
    (400, 600)
    """
    height, width = shape
    if not max_size or max(height, width) <= max_size:
        return (height, width)
    factor = max_size / max(height, width)
    return (max(2, round(height * factor)), max(2, round(width * factor)))


class _Fit:
    """What every restart shares: the target, the settings, and the outputs so far.

    Outputs are read by the preview from the calling thread while worker
    threads write them, hence the lock.
    """

    def __init__(self, scaled, target, iterations, learning_rate, device, channels_last, average_last=1,
                 low_dtype=None):
        channels, height, width = target.shape
        self.low_dtype = low_dtype
        self.scaled = scaled
        self.channels = channels
        self.iterations = iterations
        self.average_last = min(average_last, iterations)
        self.learning_rate = learning_rate
        self.device = device
        self.channels_last = channels_last
        self.padded = (_dip.padded_size(height), _dip.padded_size(width))
        self.working_shape = (height, width)
        self.target = torch.from_numpy(target).to(device)[None]
        self._lock = threading.Lock()
        self._done = {}
        self._current = {}

    def build(self, generators):
        """A network holding ``len(generators)`` restarts, and its noise."""
        net = _dip.SkipNet(self.channels, groups=len(generators))
        noise = _dip.init_restarts(net, generators, *self.padded)
        net, noise = net.to(self.device), noise.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
            noise = noise.contiguous(memory_format=torch.channels_last)
        return net, noise

    def train(self, key, net, noise, on_step):
        """Fit `net` for all iterations; ``on_step(loss)`` runs after each.

        The output kept is the mean of the forward passes of the last
        `average_last` iterations; with 1, that of the last, as in the
        reference.
        """
        groups = net.groups
        height, width = self.working_shape
        first_averaged = self.iterations - self.average_last
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        model, inputs = net, noise
        if self.low_dtype is not None:
            # Mixed precision with float32 master weights: a low-precision copy
            # runs forward and backward, Adam updates the float32 weights, and
            # the copy follows them. Autocast instead left the upsampling and
            # the padding after it in float32, with casts around every
            # convolution: 8 % slower per step (benchmarks/README.md).
            model, inputs = copy.deepcopy(net).to(self.low_dtype), noise.to(self.low_dtype)
            pairs = list(zip(net.parameters(), model.parameters()))
        for step in range(self.iterations):
            optimizer.zero_grad(set_to_none=True)
            out = model(inputs).float()[..., :height, :width].unflatten(1, (groups, self.channels))[0]
            # Summing the per-restart mean errors keeps each restart's
            # gradient what it would be if it were trained alone.
            loss = (out - self.target).abs().mean() * groups
            loss.backward()
            if model is not net:
                for weight, low in pairs:
                    weight.grad, low.grad = low.grad.float(), None
            optimizer.step()
            if model is not net:
                with torch.no_grad():
                    for weight, low in pairs:
                        low.copy_(weight)
            summed = step - first_averaged  # earlier outputs already in `total`
            total = out.detach() if summed <= 0 else total + out.detach()
            with self._lock:
                self._current[key] = total / (summed + 1) if summed > 0 else total
            on_step(loss)
        with self._lock:
            self._done[key] = self._current.pop(key).cpu().numpy()

    def discard(self, key):
        """Forget a restart whose training failed."""
        with self._lock:
            self._current.pop(key, None)

    def median(self) -> np.ndarray:
        """Pixel-wise median of the restarts so far, at full size, in the input's layout and scale."""
        with self._lock:
            stacks = list(self._done.values()) + [t.cpu().numpy() for t in self._current.values()]
        median = np.median(np.concatenate(stacks), axis=0)
        if self.working_shape != tuple(self.scaled.spatial_shape):
            # The prior is smooth: bilinear interpolation loses little of it.
            median = resize(median, (median.shape[0], *self.scaled.spatial_shape), order=1, anti_aliasing=False)
        return self.scaled.restore(median)


def _run_in_caller(fit, generators, group_size, callback, total):
    """Train restarts in the calling thread, `group_size` at a time in one batched network.

    A GPU that runs out of memory gets the remaining restarts in smaller
    groups, with a warning, rather than an error.
    """
    step, start = 0, 0
    while start < len(generators):
        group = generators[start:start + group_size]
        step_before = step
        net, noise = fit.build(group)

        def on_step(loss):
            nonlocal step
            step += len(group)
            if callback is not None:
                report(callback, Progress(min(step, total), total, loss.item() / len(group), "prior", fit.median))

        try:
            fit.train(start, net, noise, on_step)
        except torch.cuda.OutOfMemoryError:
            if group_size == 1:
                raise MemoryError(
                    f"one restart of the prior does not fit in the memory of {fit.device}; "
                    "pass a smaller max_size or device='cpu'"
                ) from None
            del net, noise
            fit.discard(start)
            torch.cuda.empty_cache()
            group_size = max(1, group_size // 2)
            warnings.warn(f"out of GPU memory: training {group_size} restarts at a time instead", stacklevel=4)
            step = step_before
            continue
        start += len(group)


def _run_threaded(fit, generators, n_workers, n_threads, callback, total):
    """Train restarts in worker threads, with no core left idle at the end.

    Two single-threaded fits use the cores better than one two-threaded fit
    (the net's layers are too small to split well), so restarts train in
    rounds of `n_workers` with one intra-op thread each. The restarts left
    over when fewer remain than workers train together, sharing all
    `n_threads` cores, if the image is large enough for that to pay. Each
    restart's thread count is fixed by its number and the image size, so a
    seed still gives the same prior. Torch releases the GIL inside its
    operators; the callback still runs in the calling thread.
    """
    keys = list(range(len(generators)))
    full_rounds = len(keys) - len(keys) % n_workers
    share = fit.padded[0] * fit.padded[1] >= _SHARED_CORES_MIN_PIXELS
    step = 0
    for batch, workers in ((keys[:full_rounds], n_workers), (keys[full_rounds:], len(keys) - full_rounds)):
        if batch:
            threads = max(1, n_threads // workers) if share else 1
            step = _run_workers(fit, generators, batch, workers, threads, callback, total, step)


def _run_workers(fit, generators, keys, n_workers, intra_op_threads, callback, total, step):
    """Train the restarts `keys` in `n_workers` threads; returns the progress step reached."""
    events = queue.SimpleQueue()
    stop = threading.Event()
    pending = iter(keys)
    pending_lock = threading.Lock()
    done = object()

    def worker():
        torch.set_num_threads(intra_op_threads)
        try:
            while not stop.is_set():
                with pending_lock:
                    key = next(pending, None)
                if key is None:
                    break
                net, noise = fit.build([generators[key]])

                def on_step(loss):
                    events.put(loss.item())
                    if stop.is_set():
                        raise _Stopped

                fit.train(key, net, noise, on_step)
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread, which re-raises it
            events.put(error)
        finally:
            events.put(done)

    threads = [threading.Thread(target=worker, name=f"dsp-prior-{i}", daemon=True) for i in range(n_workers)]
    for thread in threads:
        thread.start()
    try:
        running = n_workers
        while running:
            event = events.get()
            if event is done:
                running -= 1
            elif isinstance(event, BaseException):
                raise event
            else:
                step += 1
                report(callback, Progress(step, total, event, "prior", fit.median))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return step


def _resolve(preset, iterations, restarts, learning_rate, max_size, average_last) -> PriorRecipe:
    """The prior settings in effect: the preset's foreground prior with the given options, all checked."""
    recipe = get_preset(preset).foreground_prior
    values = {name: getattr(recipe, name) if value is None else value for name, value in (
        ("iterations", iterations), ("restarts", restarts), ("learning_rate", learning_rate), ("max_size", max_size),
        ("average_last", average_last))}
    check_int("iterations", values["iterations"])
    check_int("restarts", values["restarts"])
    check_int("average_last", values["average_last"])
    _dip.check_max_size(values["max_size"])
    check_number("learning_rate", values["learning_rate"], 0, low_open=True, hint="e.g. 0.01")
    return PriorRecipe(**values)


def _fitting_shape(shape, max_size, available):
    """The working shape for `max_size`, shrunk further if one network would not fit in memory."""
    height, width = working_shape(shape, max_size)
    if available is None or 2 * _BYTES_PER_PIXEL * _dip.padded_size(height) * _dip.padded_size(width) <= available:
        return (height, width)
    side = int(math.sqrt(available / (2 * _BYTES_PER_PIXEL) * max(height, width) / min(height, width)))
    shrunk = working_shape((height, width), max(_dip.MIN_SIZE, side - _dip.MULTIPLE))
    warnings.warn(
        f"a {height} x {width} prior does not fit in half of the {available / 2**30:.1f} GiB free; "
        f"fitting it at {shrunk[0]} x {shrunk[1]} and interpolating (pass max_size to choose)",
        stacklevel=3,
    )
    return shrunk


def deep_segmentation_prior(
    image: ArrayLike,
    *,
    preset: str = PAPER.name,
    iterations: Optional[int] = None,
    restarts: Optional[int] = None,
    learning_rate: Optional[float] = None,
    max_size: Optional[int] = None,
    average_last: Optional[int] = None,
    channel_axis: Optional[int] = None,
    device=None,
    seed: Optional[int] = None,
    callback: Optional[Callable] = None,
    strategy: str = "auto",
    precision: str = PRECISIONS[0],
) -> np.ndarray:
    """Compute the Deep Segmentation Prior of an image.

    `restarts` Deep Image Prior networks, each from its own random weights
    and noise, are fitted to the image for only `iterations` Adam steps; the
    prior is the pixel-wise median of their outputs. It keeps the surfaces
    of the image and drops fine texture, which makes it a good input for
    clustering.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        Grayscale or multichannel image, any numeric dtype, any size from
        2 x 2 (it is reflection-padded to what the network needs, never
        cropped).
    preset : {"paper", "fast"}, optional
        Where the options left at None come from (`napari_dsp.recipes`):
        ``"paper"`` is the paper's recipe for foreground/background (50
        iterations, 11 restarts, full resolution); ``"fast"`` fits fewer
        restarts at a reduced working resolution, for interactive use.
    iterations : int, optional
        Adam steps per restart; the paper uses 50 for foreground/background
        and 100 for multi-class segmentation. None takes the preset's.
    restarts : int, optional
        Number of independent networks whose median is taken. None takes
        the preset's.
    learning_rate : float, optional
        Adam learning rate. None takes the preset's (0.01).
    max_size : int, optional
        Fit at a working resolution whose long side is at most this many
        pixels, then interpolate the prior back to full size (bilinear); 0
        fits at full resolution. None takes the preset's (paper: 0, fast:
        256). The size also shrinks, with a warning, when one network would
        not fit in half of the free memory.
    average_last : int, optional
        Each network's output is the mean of its outputs at the last
        `average_last` iterations (at most `iterations`), which steadies it
        at no cost (iterate averaging, as [1]_ does for denoising); 1 keeps
        the last output alone, as the paper. None takes the preset's
        (paper: 1, fast: see `napari_dsp.recipes.FAST`).
    channel_axis : int or None, optional
        Axis of `image` that holds the channels; None for grayscale.
    device : str, torch.device or None, optional
        ``"cpu"``, ``"cuda"`` or ``"mps"``; None picks CUDA, then MPS, then
        the CPU.
    seed : int or None, optional
        Seed of the networks' weights and noise. On the CPU the same seed
        gives a bit-identical prior (with the same `strategy` and thread
        count).
    callback : callable, optional
        Called after every iteration of every restart with a
        :class:`~napari_dsp.progress.Progress` (``stage="prior"``,
        ``total = iterations * restarts``) whose ``preview()`` is the median
        of the restarts so far in the input's shape and scale. Returning
        ``False`` or raising :class:`~napari_dsp.progress.Cancelled` stops
        the fit. It is always called from the calling thread.
    strategy : {"auto", "sequential", "threads", "batched"}, optional
        How restarts share the hardware: one after another; in worker
        threads with one intra-op thread each; or all in one batched network
        (grouped convolutions). ``"auto"`` batches on a GPU and uses threads
        on the CPU. All give the same prior up to floating-point
        rounding, which training amplifies into small pixel differences.
    precision : {"float32", "bfloat16"}, optional
        ``"bfloat16"`` trains the networks in bfloat16, keeping float32
        master weights for Adam (the loss and the prior stay float32 too).
        On a CPU with AVX-512 BF16 the `paper` prior took 1.5 times less
        time, with a segmentation as close to float32's as two seeds are to
        each other (benchmarks/README.md); CPUs without bfloat16 arithmetic
        (AVX2 only) emulate it, many times slower: `estimate_prior` shows
        which. GPUs: not measured.

    Returns
    -------
    prior : ndarray of float32
        Same shape as `image`, in its intensity range.

    Raises
    ------
    ValueError
        If the image is empty, not 2-D (plus channels), smaller than 2 x 2,
        or holds NaN or infinite values, or an option is out of range.
    napari_dsp.progress.Cancelled
        If `callback` asked to stop.

    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018.
    .. [2] G. Oren, S. Azulay, E.-H. Mashiah, "Unsupervised Image
           Segmentation With Deep Segmentation Prior".

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((20, 30), dtype=np.uint8)
    >>> image[5:15, 10:20] = 200
    >>> prior = deep_segmentation_prior(image, iterations=3, restarts=2, seed=0, device="cpu")
    >>> prior.shape, prior.dtype
    ((20, 30), dtype('float32'))
    >>> deep_segmentation_prior(image, preset="fast", iterations=3, seed=0).shape
    (20, 30)
    """
    recipe = _resolve(preset, iterations, restarts, learning_rate, max_size, average_last)
    iterations, restarts, learning_rate = recipe.iterations, recipe.restarts, recipe.learning_rate
    check_choice("strategy", strategy, STRATEGIES)
    check_choice("precision", precision, PRECISIONS)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback={callback!r} is not callable; pass a function or None")
    seed = check_seed(seed)
    scaled = prepare_image(image, channel_axis, min_size=2)
    device = resolve_device(device)
    available = _available_bytes(device)
    shape = _fitting_shape(scaled.spatial_shape, recipe.max_size, available)
    target = scaled.data
    if shape != tuple(scaled.spatial_shape):
        target = resize(target, (target.shape[0], *shape), order=1, anti_aliasing=True).astype(np.float32)

    fit = _Fit(scaled, target, iterations, learning_rate, device, channels_last=device.type == "cpu",
               average_last=recipe.average_last, low_dtype=LOW_DTYPES[precision])
    n_threads = torch.get_num_threads()
    n_workers = _concurrent_restarts(min(n_threads, restarts), fit.padded, available)
    if strategy == "auto":
        # Even a single worker thread pays off on the CPU: OpenMP barriers
        # between the net's many small operators stall badly (tens of times
        # slower) when other processes load the cores.
        strategy = "batched" if device.type != "cpu" else "threads"
    generators = _dip.generators(seed, restarts)
    total = iterations * restarts
    with retained_heap(device):
        if strategy == "threads":
            try:
                _run_threaded(fit, generators, n_workers, n_threads, callback, total)
            finally:
                # Intra-op thread counts are per thread with OpenMP; other
                # backends share one, which the workers must not leave at 1.
                if torch.get_num_threads() != n_threads:
                    torch.set_num_threads(n_threads)
        else:
            group_size = _concurrent_restarts(restarts, fit.padded, available) if strategy == "batched" else 1
            _run_in_caller(fit, generators, group_size, callback, total)
        return fit.median()


@dataclass(frozen=True)
class PriorEstimate:
    """What `deep_segmentation_prior` will cost, from `estimate_prior`.

    Attributes
    ----------
    seconds : float
        Expected run time.
    peak_bytes : int
        Memory of the networks training at once.
    working_shape : tuple of int
        The (height, width) the prior will be fitted at.
    """

    seconds: float
    peak_bytes: int
    working_shape: tuple

    def __str__(self):
        return (f"about {self.seconds:.0f} s and {self.peak_bytes / 2**20:.0f} MiB, "
                f"fitted at {self.working_shape[0]} x {self.working_shape[1]}")


def estimate_prior(
    shape: tuple,
    *,
    channel_axis: Optional[int] = None,
    preset: str = PAPER.name,
    iterations: Optional[int] = None,
    restarts: Optional[int] = None,
    max_size: Optional[int] = None,
    precision: str = PRECISIONS[0],
    device=None,
) -> PriorEstimate:
    """Estimate the time and memory of `deep_segmentation_prior` before running it.

    Times three iterations of one network on a sample of at most 96 x 96
    pixels and scales the fastest by the working pixel count, the iterations
    and the rounds of restarts the cores run. Takes well under a second.

    Parameters
    ----------
    shape : tuple of int
        The image's shape, channel axis included.
    channel_axis, preset, iterations, restarts, max_size, precision, device
        As for `deep_segmentation_prior`. The timing runs in `precision`: a
        CPU without bfloat16 arithmetic shows here how much slower it is.

    Returns
    -------
    PriorEstimate

    Examples
    --------
    >>> estimate = estimate_prior((512, 512, 3), channel_axis=-1, preset="fast")
    >>> estimate.working_shape
    (256, 256)
    """
    recipe = _resolve(preset, iterations, restarts, None, max_size, None)
    check_choice("precision", precision, PRECISIONS)
    channel_axis = check_channel_axis(shape, channel_axis)
    channels = 1 if channel_axis is None else shape[channel_axis]
    device = resolve_device(device)
    available = _available_bytes(device)
    height, width = _fitting_shape(spatial_shape(shape, channel_axis), recipe.max_size, available)
    padded = (_dip.padded_size(height), _dip.padded_size(width))
    side = min(96, max(padded))
    sample = _Fit(prepare_image(np.zeros((side, side, channels), np.float32), -1), np.zeros(
        (channels, side, side), np.float32), 3, recipe.learning_rate, device, channels_last=device.type == "cpu",
        low_dtype=LOW_DTYPES[precision])
    times = []
    net, noise = sample.build(_dip.generators(0, 1))
    previous = time.perf_counter()

    def on_step(loss):
        nonlocal previous
        loss.item()  # waits for the device
        now = time.perf_counter()
        times.append(now - previous)
        previous = now

    with _dip.one_thread_on_cpu(device):  # one network on one core, as the fit trains them (_run_threaded)
        sample.train(0, net, noise, on_step)
    per_pixel = min(times[1:]) / (_dip.padded_size(side) ** 2)
    if device.type == "cpu":
        workers = _concurrent_restarts(min(torch.get_num_threads(), recipe.restarts), padded, available)
        rounds = math.ceil(recipe.restarts / workers)
    else:
        workers, rounds = recipe.restarts, 1
    seconds = per_pixel * padded[0] * padded[1] * recipe.iterations * rounds
    return PriorEstimate(float(seconds), int(_BYTES_PER_PIXEL * padded[0] * padded[1] * workers), (height, width))

