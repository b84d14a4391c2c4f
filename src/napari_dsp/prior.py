"""The Deep Segmentation Prior: a Deep Image Prior fitted for a few iterations.

The prior keeps the surfaces of an image and drops fine texture; every
segmenter in this package clusters it rather than the raw image.
"""

import contextlib
import math
import os
import queue
import threading
from typing import Callable, Optional

import numpy as np
import torch
from numpy.typing import ArrayLike

from . import _dip
from ._device import resolve_device
from ._image import check_int, prepare_image
from .progress import Progress, report
from .recipes import PAPER

__all__ = ["STRATEGIES", "deep_segmentation_prior"]

STRATEGIES = ("auto", "sequential", "threads", "batched")


class _Stopped(Exception):
    """Unwinds a worker thread after the calling thread stopped the fit."""


def _generators(seed, restarts):
    """One CPU generator per restart, all derived from `seed`."""
    children = np.random.SeedSequence(seed).spawn(restarts)
    return [torch.Generator().manual_seed(int(c.generate_state(1, np.uint64)[0])) for c in children]


def _thread_workers(n_threads, restarts, padded):
    """How many restarts can train at once in threads without crowding memory.

    One restart holds about 1.1 kB of activations and gradients per padded
    pixel (measured at 512 and 1024 px); keep all of them within half of the
    free memory where the system reports it.
    """
    workers = min(n_threads, restarts)
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return workers
    return max(1, min(workers, free // (2 * 1100 * padded[0] * padded[1])))


def _padded_size(size):
    return max(_dip.MIN_SIZE, math.ceil(size / _dip.MULTIPLE) * _dip.MULTIPLE)


class _Fit:
    """What every restart shares: the target, the settings, and the outputs so far.

    Outputs are read by the preview from the calling thread while worker
    threads write them, hence the lock.
    """

    def __init__(self, scaled, iterations, learning_rate, device, channels_last):
        channels, height, width = scaled.data.shape
        self.scaled = scaled
        self.channels = channels
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.device = device
        self.channels_last = channels_last
        self.padded = (_padded_size(height), _padded_size(width))
        self.target = torch.from_numpy(scaled.data).to(device)[None]
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

        The output kept is that of the last forward pass, as in the reference.
        """
        groups = net.groups
        height, width = self.scaled.spatial_shape
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        for _ in range(self.iterations):
            optimizer.zero_grad(set_to_none=True)
            out = net(noise)[..., :height, :width].unflatten(1, (groups, self.channels))[0]
            # Summing the per-restart mean errors keeps each restart's
            # gradient what it would be if it were trained alone.
            loss = (out - self.target).abs().mean() * groups
            loss.backward()
            optimizer.step()
            with self._lock:
                self._current[key] = out.detach()
            on_step(loss)
        with self._lock:
            self._done[key] = self._current.pop(key).cpu().numpy()

    def median(self) -> np.ndarray:
        """Pixel-wise median of the restarts so far, in the input's layout and scale."""
        with self._lock:
            stacks = list(self._done.values()) + [t.cpu().numpy() for t in self._current.values()]
        return self.scaled.restore(np.median(np.concatenate(stacks), axis=0))


def _run_in_caller(fit, generators, batched, callback, total):
    """Train restarts in the calling thread, all at once or one after another."""
    groups = [generators] if batched else [[g] for g in generators]
    step = 0
    for key, group in enumerate(groups):
        net, noise = fit.build(group)

        def on_step(loss):
            nonlocal step
            step += len(group)
            if callback is not None:
                report(callback, Progress(step, total, loss.item() / len(group), "prior", fit.median))

        fit.train(key, net, noise, on_step)


def _run_threaded(fit, generators, n_workers, callback, total):
    """Train restarts in worker threads, one intra-op thread each.

    Two single-threaded fits use the cores better than one two-threaded fit
    (the net's layers are too small to split well). Torch releases the GIL
    inside its operators; the callback still runs in the calling thread.
    """
    events = queue.SimpleQueue()
    stop = threading.Event()
    pending = iter(range(len(generators)))
    pending_lock = threading.Lock()
    done = object()

    def worker():
        torch.set_num_threads(1)
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
        step, running = 0, n_workers
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


def deep_segmentation_prior(
    image: ArrayLike,
    *,
    iterations: int = PAPER.foreground_prior.iterations,
    restarts: int = PAPER.foreground_prior.restarts,
    learning_rate: float = PAPER.foreground_prior.learning_rate,
    channel_axis: Optional[int] = None,
    device=None,
    seed: Optional[int] = None,
    callback: Optional[Callable] = None,
    strategy: str = "auto",
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
    iterations : int, optional
        Adam steps per restart; the paper uses 50 for foreground/background
        and 100 for multi-class segmentation.
    restarts : int, optional
        Number of independent networks whose median is taken.
    learning_rate : float, optional
        Adam learning rate.
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
    """
    check_int("iterations", iterations)
    check_int("restarts", restarts)
    if not (isinstance(learning_rate, (int, float, np.number)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate={learning_rate!r} must be a positive number, e.g. 0.01")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r} is not one of {', '.join(map(repr, STRATEGIES))}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback={callback!r} is not callable; pass a function or None")
    scaled = prepare_image(image, channel_axis, min_size=2)
    device = resolve_device(device)

    fit = _Fit(scaled, iterations, learning_rate, device, channels_last=device.type == "cpu")
    n_threads = torch.get_num_threads()
    n_workers = _thread_workers(n_threads, restarts, fit.padded)
    if strategy == "auto":
        # Even a single worker thread pays off on the CPU: OpenMP barriers
        # between the net's many small operators stall badly (tens of times
        # slower) when other processes load the cores.
        strategy = "batched" if device.type != "cpu" else "threads"
    generators = _generators(seed, restarts)
    total = iterations * restarts
    with _dip.retained_heap() if device.type == "cpu" else contextlib.nullcontext():
        if strategy == "threads":
            try:
                _run_threaded(fit, generators, n_workers, callback, total)
            finally:
                # Intra-op thread counts are per thread with OpenMP; other
                # backends share one, which the workers must not leave at 1.
                if torch.get_num_threads() != n_threads:
                    torch.set_num_threads(n_threads)
        else:
            _run_in_caller(fit, generators, strategy == "batched", callback, total)
        return fit.median()
