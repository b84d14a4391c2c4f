"""Multi-class segmentation by backpropagation, guided by the Deep Segmentation Prior.

A small CNN is fitted to one image so that its per-pixel argmax labels agree
with themselves after a majority vote inside SLIC superpixels (Kanezaki 2018);
the DSP paper (section 5) computes the superpixels on the prior and adds a
linear warm-up and cosine restarts. The later variant of the same group (Kim,
Kanezaki and Tanaka 2020) replaces the superpixels by a spatial-continuity loss
and accepts user scribbles; both are options of one function here. The
network and the training step live in `napari_dsp._kanezaki`.
"""

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable, Optional

import numpy as np
import torch
from numpy.typing import ArrayLike
from skimage.transform import resize

from . import _kanezaki
from ._deprecation import renamed_keywords
from ._device import LOW_DTYPES, resolve_device
from ._heap import retained_heap
from ._image import (
    check_channel_axis, check_choice, check_int, check_number, check_seed, prepare_image, spatial_shape,
)
from ._kanezaki import SegmentationNet
from ._schedules import StopRule, cosine_restart_lr, warmup_lr
from .progress import Progress, report
from .recipes import PAPER, PRECISIONS, get_preset

__all__ = [
    "BackpropOptions",
    "SegmentationNet",
    "backprop_segmentation",
    "check_backprop_options",
    "estimate_backprop_bytes",
    "estimate_backprop_seconds",
]

_PAPER = PAPER.backprop
STABILISATION_ITERATIONS = 50
DEFAULT_MEMORY_LIMIT = 8 * 2**30
# (n_features, H, W) float32 maps alive at the peak of one training step with
# nConv = 2, measured (peak RSS) with torch 2.13 on CPU: 9.4, rounded up; each
# further 3x3 layer added 2.0 and the continuity loss 2.9.
_MAPS_AT_PEAK = 10
_MAPS_PER_EXTRA_CONV = 2
_MAPS_CONTINUITY = 3


@dataclass(frozen=True)
class BackpropOptions:
    """The training options of `backprop_segmentation`, checked once when made.

    The attributes are the keyword options of `backprop_segmentation` of the
    same names; their defaults come from `napari_dsp.recipes.PAPER`.

    Raises
    ------
    ValueError
        If an option is out of range.

    Examples
    --------
    >>> BackpropOptions(scale=0.5).max_iterations
    1000
    >>> BackpropOptions(warmup=-1)
    Traceback (most recent call last):
    ...
    ValueError: warmup=-1 must be an integer >= 0
    """

    n_segments: int = _PAPER.n_segments
    compactness: float = _PAPER.compactness
    n_features: int = _PAPER.n_features
    n_conv: int = _PAPER.n_conv
    learning_rate: float = _PAPER.learning_rate
    max_iterations: int = _PAPER.max_iterations
    min_labels: int = _PAPER.min_labels
    warmup: int = _PAPER.warmup
    cosine_annealing: bool = _PAPER.cosine_annealing
    continuity: float = _PAPER.continuity
    scale: float = _PAPER.scale
    precision: str = _PAPER.precision
    memory_limit: int = DEFAULT_MEMORY_LIMIT

    def __post_init__(self):
        for name, low in (("n_segments", 1), ("n_features", 2), ("n_conv", 1), ("max_iterations", 1),
                          ("min_labels", 1), ("warmup", 0)):
            check_int(name, getattr(self, name), low)
            object.__setattr__(self, name, int(getattr(self, name)))
        check_number("compactness", self.compactness, 0, low_open=True, hint="e.g. 10")
        check_number("learning_rate", self.learning_rate, 0, low_open=True, hint="e.g. 0.1")
        check_number("continuity", self.continuity, 0, hint="0 uses superpixels")
        check_number("scale", self.scale, 0, 1, low_open=True, hint="1 fits at full resolution, 0.5 at half")
        check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.cosine_annealing, (bool, np.bool_)):
            raise ValueError(f"cosine_annealing={self.cosine_annealing!r} must be True or False")

    @classmethod
    def from_preset(cls, preset=PAPER.name, **options):
        """The preset's backprop settings (`napari_dsp.recipes`) with the `options` that are not None.

        Examples
        --------
        >>> BackpropOptions.from_preset("fast", max_iterations=None).scale
        0.5
        """
        recipe = asdict(get_preset(preset).backprop)
        return cls(**{**recipe, **{name: value for name, value in options.items() if value is not None}})

    def check_input(self, shape, channel_axis, *, guide_shape=None, scribbles=None):
        """Check the options against an image of `shape` (already validated), its guide and scribbles.

        Returns the scribbles (or None) and the scribbled classes, sorted.
        """
        spatial = spatial_shape(shape, channel_axis)
        if guide_shape is not None and tuple(guide_shape) != tuple(shape):
            raise ValueError(
                f"guide has shape {tuple(guide_shape)} but the image has shape {tuple(shape)}; "
                "pass the prior computed from this image (same shape and channel_axis) or guide=None"
            )
        scribbles, classes = _check_scribbles(scribbles, spatial)
        if classes.size > self.n_features:
            raise ValueError(
                f"{classes.size} scribble classes but only n_features={self.n_features} labels; raise n_features"
            )
        # The output is int32 and numbers the unscribbled labels after the largest scribbled class.
        largest = np.iinfo(np.int32).max - self.n_features
        if classes.size and classes[-1] > largest:
            raise ValueError(
                f"scribbles hold the label {classes[-1]}, above the largest usable label {largest} "
                f"(2**31 - 1 - n_features); renumber them, e.g. with skimage.segmentation.relabel_sequential"
            )
        needed = estimate_backprop_bytes(shape, channel_axis=channel_axis, n_features=self.n_features,
                                         n_conv=self.n_conv, scale=self.scale, continuity=self.continuity)
        if needed > self.memory_limit:
            raise MemoryError(
                f"segmenting {spatial[0]} x {spatial[1]} pixels with n_features={self.n_features} at "
                f"scale={self.scale} needs about {needed / 2**30:.1f} GiB, above "
                f"memory_limit={self.memory_limit / 2**30:.1f} GiB; "
                "pass a smaller scale (cost falls with its square), fewer n_features, or a larger memory_limit"
            )
        return scribbles, classes


def _check_scribbles(scribbles, spatial_shape):
    """Return the scribbles as an integer array and their sorted classes, or (None, empty) if there are none."""
    if scribbles is None:
        return None, np.zeros(0, np.int64)
    scribbles = np.asarray(scribbles)
    if scribbles.shape != tuple(spatial_shape):
        raise ValueError(
            f"scribbles have shape {scribbles.shape} but the image's spatial shape is {tuple(spatial_shape)}; "
            "draw them on a Labels layer of the image's height and width"
        )
    if not np.issubdtype(scribbles.dtype, np.integer):
        raise ValueError(
            f"scribbles must be an integer label array (0 = unlabelled, 1..m = classes), got dtype "
            f"{scribbles.dtype}; convert whole-number values with scribbles.astype(int)"
        )
    if scribbles.min() < 0:
        raise ValueError(
            f"scribbles contain the negative value {scribbles.min()}; use 0 for unlabelled pixels and 1..m for classes"
        )
    classes = np.unique(scribbles)
    classes = classes[classes > 0]
    if classes.size == 0:
        return None, np.zeros(0, np.int64)
    return scribbles, classes


def _working_shape(spatial_shape, scale):
    return tuple(max(2, round(n * scale)) for n in spatial_shape)


def estimate_backprop_bytes(
    shape: tuple,
    *,
    channel_axis: Optional[int] = None,
    n_features: int = _PAPER.n_features,
    n_conv: int = _PAPER.n_conv,
    scale: float = _PAPER.scale,
    continuity: float = _PAPER.continuity,
) -> int:
    """Approximate peak memory of `backprop_segmentation`, in bytes.

    The cost is the (n_features, H, W) response maps kept for backpropagation,
    at the working resolution (the image's size times `scale`), plus the
    full-resolution response that the labels are interpolated from when
    ``scale < 1``.

    Parameters
    ----------
    shape : tuple of int
        The image's shape, channel axis included.
    channel_axis : int or None, optional
        Axis of `shape` that holds the channels.
    n_features, n_conv, scale, continuity
        As for `backprop_segmentation`.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If `shape` is not that of a 2-D (+ channels) image or an option is
        out of range.

    Examples
    --------
    >>> round(estimate_backprop_bytes((321, 481, 3), channel_axis=-1) / 2**30, 2)
    0.58
    """
    BackpropOptions(n_features=n_features, n_conv=n_conv, scale=scale, continuity=continuity)
    spatial = spatial_shape(shape, check_channel_axis(shape, channel_axis))
    h, w = _working_shape(spatial, scale)
    maps = _MAPS_AT_PEAK + _MAPS_PER_EXTRA_CONV * (n_conv - 2) + _MAPS_CONTINUITY * (continuity > 0)
    total = maps * n_features * h * w * 4
    if scale < 1:
        total += n_features * spatial[0] * spatial[1] * 4
    return int(total)


def check_backprop_options(shape: tuple, *, channel_axis: Optional[int] = None, guide_shape=None, **options) -> None:
    """Validate options of `backprop_segmentation` for an image of `shape` without running it.

    For callers that compute the guide first (the pipeline, the widgets), so
    that a bad option fails before minutes of work rather than after.

    Parameters
    ----------
    shape : tuple of int
        The image's shape, channel axis included.
    channel_axis : int or None, optional
        Axis of `shape` that holds the channels.
    guide_shape : tuple of int, optional
        Shape of the guide that will be passed, if any.
    **options
        Keyword arguments of `backprop_segmentation` (the options of
        `BackpropOptions`, and `scribbles`).

    Raises
    ------
    TypeError
        If an option is not a keyword of `backprop_segmentation`.
    ValueError, MemoryError
        As `backprop_segmentation` would raise them.

    Examples
    --------
    >>> check_backprop_options((321, 481, 3), channel_axis=-1, scale=0.5)
    >>> check_backprop_options((321, 481, 3), channel_axis=-1, scale=2)
    Traceback (most recent call last):
    ...
    ValueError: scale=2 must be a number in (0, 1]; 1 fits at full resolution, 0.5 at half
    """
    options = dict(options)
    scribbles = options.pop("scribbles", None)
    unknown = sorted(set(options) - {f.name for f in fields(BackpropOptions)})
    if unknown:
        raise TypeError(f"backprop_segmentation has no option {', '.join(map(repr, unknown))}")
    channel_axis = check_channel_axis(shape, channel_axis)
    BackpropOptions(**options).check_input(tuple(shape), channel_axis, guide_shape=guide_shape, scribbles=scribbles)


@renamed_keywords(cosine_restarts="cosine_annealing")
def backprop_segmentation(
    image: ArrayLike,
    *,
    guide: Optional[ArrayLike] = None,
    preset: str = PAPER.name,
    n_segments: Optional[int] = None,
    compactness: Optional[float] = None,
    n_features: Optional[int] = None,
    n_conv: Optional[int] = None,
    learning_rate: Optional[float] = None,
    max_iterations: Optional[int] = None,
    min_labels: Optional[int] = None,
    warmup: Optional[int] = None,
    cosine_annealing: Optional[bool] = None,
    continuity: Optional[float] = None,
    scribbles: Optional[ArrayLike] = None,
    channel_axis: Optional[int] = None,
    device=None,
    seed: Optional[int] = None,
    callback: Optional[Callable] = None,
    scale: Optional[float] = None,
    precision: Optional[str] = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """Segment an image into an unknown number of classes by self-training a CNN.

    Each iteration takes the argmax over the network's `n_features` responses
    as every pixel's label, replaces each label by the majority label of its
    SLIC superpixel, and takes one SGD step (momentum 0.9) on the cross-entropy
    between the responses and those targets (Kanezaki 2018). The superpixels
    come from `guide`, normally the Deep Segmentation Prior, as in the DSP
    paper. Training stops after `max_iterations`, or
    50 iterations after the number of labels first falls to `min_labels`.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image; the network sees it min-max scaled to [0, 1], in its own
        channel order.
    guide : array_like, optional
        Image the superpixels are computed on, of `image`'s shape and channel
        axis, normally ``deep_segmentation_prior(image, iterations=100,
        restarts=10)``. None runs SLIC on `image` itself (the original method).
    preset : {"paper", "fast"}, optional
        Where the options left at None come from (`napari_dsp.recipes`):
        ``"paper"`` is the paper's recipe (full size, 100 features, up to
        1000 iterations); ``"fast"`` fits a half-size image with fewer
        features and iterations.
    n_segments, compactness : int, float, optional
        SLIC parameters (paper: 1000 and 10). Three-channel guides are
        compared in CIELAB; others are scaled to [0, 100] first so that
        `compactness` has the same meaning.
    n_features : int, optional
        Response channels, the largest possible number of labels (100).
    n_conv : int, optional
        Number of 3x3 convolutions (2).
    learning_rate : float, optional
        SGD learning rate (0.1).
    max_iterations : int, optional
        Main-loop iterations at most, after the warm-up (1000).
    min_labels : int, optional
        Label count that starts the final 50 iterations (3). With scribbles it
        is set to the number of scribbled classes.
    warmup : int, optional
        Iterations of plain SGD (no momentum) before the main loop, the
        learning rate rising linearly from ``learning_rate / warmup`` to
        `learning_rate` (100; 0 switches the warm-up off).
    cosine_annealing : bool, optional
        Anneal the learning rate by cosine with warm restarts (first period
        2 iterations, doubling); False keeps it constant (the original method).
        Formerly ``cosine_restarts``, which still works but is deprecated.
    continuity : float, optional
        If > 0, use the variant of Kim et al. (2020): no superpixels, and the
        loss adds `continuity` times the mean absolute difference between
        vertically and horizontally neighbouring responses.
    scribbles : (M, N) int array_like, optional
        User labels, 0 = unlabelled and 1..m = classes (napari's Labels
        convention). Scribbled pixels are trained towards their class with
        weight 0.5, the others towards their self-labels; the output uses the
        user's numbers for these classes and numbers other labels after them.
        All zeros is the same as None.
    channel_axis : int or None, optional
        Axis of `image` (and `guide`) holding the channels; None for grey.
    device : str or torch.device, optional
        "cpu", "cuda" or "mps"; None picks the best available.
    seed : int, optional
        Seed of the network's initial weights; the same seed on the CPU gives
        the same labels.
    callback : callable, optional
        Called after every iteration with a `Progress` (stage "backprop",
        ``total = warmup + max_iterations``) whose ``preview()`` gives the
        current labels at full size; returning False cancels.
    scale : float, optional
        Fit at this fraction of the image's size, in (0, 1]. Cost falls with
        the square of `scale`; the final response is interpolated back to full
        size before the argmax, so the labels keep the input's shape.
    precision : {"float32", "bfloat16"}, optional
        "bfloat16" runs the network in bfloat16 autocast; faster only on
        hardware with native bfloat16 (recent GPUs, CPUs with AVX512-BF16/AMX:
        1.8 times faster on one), emulated and about 9 times slower on CPUs
        with AVX2 only (benchmarks/README.md).
    memory_limit : int, optional
        Refuse to run when `estimate_backprop_bytes` exceeds this many bytes
        (8 GiB: about 2.1 megapixels at full scale with 100 features; the
        BSDS500 size of 481 x 321 needs 0.58 GiB).

    Returns
    -------
    (M, N) int32 ndarray
        Labels 1..n numbered consecutively (with scribbles: the user's classes
        first under their own numbers).

    Raises
    ------
    ValueError
        For invalid options, a guide or scribbles of the wrong shape, or
        scribbles that are not non-negative integers.
    MemoryError
        If the run would need more than `memory_limit` bytes.
    napari_dsp.progress.Cancelled
        If `callback` returns False or raises it.

    References
    ----------
    .. [1] A. Kanezaki, "Unsupervised image segmentation by backpropagation",
       ICASSP 2018.
    .. [2] W. Kim, A. Kanezaki, M. Tanaka, "Unsupervised learning of image
       segmentation based on differentiable feature clustering", IEEE TIP 29, 2020.
    .. [3] "Deep Segmentation Prior", section 5 (the DSP paper).

    Examples
    --------
    >>> from skimage import data
    >>> labels = backprop_segmentation(data.astronaut()[::16, ::16], channel_axis=-1,
    ...                                max_iterations=5, warmup=2, seed=0)
    >>> labels.shape, labels.dtype, int(labels.min())
    ((32, 32), dtype('int32'), 1)
    """
    scaled = prepare_image(image, channel_axis, min_size=2)
    spatial_shape = scaled.spatial_shape
    options = BackpropOptions.from_preset(
        preset, n_segments=n_segments, compactness=compactness, n_features=n_features, n_conv=n_conv,
        learning_rate=learning_rate, max_iterations=max_iterations, min_labels=min_labels, warmup=warmup,
        cosine_annealing=cosine_annealing, continuity=continuity, scale=scale, precision=precision,
        memory_limit=memory_limit,
    )
    scribbles, classes = options.check_input(
        scaled.shape, scaled.channel_axis, guide_shape=None if guide is None else np.shape(guide),
        scribbles=scribbles,
    )
    seed = check_seed(seed)
    min_labels = int(classes.size) if classes.size else options.min_labels
    device = resolve_device(device)
    autocast_dtype = LOW_DTYPES[options.precision]

    work_shape = _working_shape(spatial_shape, options.scale)
    data = scaled.data
    guide_data = data if guide is None else prepare_image(guide, channel_axis).data
    if work_shape != tuple(spatial_shape):
        data = resize(data, (data.shape[0], *work_shape), order=1, anti_aliasing=True).astype(np.float32)
        guide_data = resize(guide_data, (guide_data.shape[0], *work_shape), order=1, anti_aliasing=True)

    superpixels = n_superpixels = None
    if options.continuity == 0:
        sp = _kanezaki.superpixels(guide_data, options.n_segments, options.compactness)
        n_superpixels = int(sp.max()) + 1
        superpixels = torch.from_numpy(sp.reshape(-1).astype(np.int64)).to(device)

    scribble_target = free_target_mask = None
    if scribbles is not None:
        rows, cols = np.nonzero(scribbles)
        # Every scribbled pixel lands on a working pixel, so thin strokes survive downscaling.
        # Class -> channel by position in the sorted classes: a table indexed by label would be
        # sized by the largest label.
        target = np.full(work_shape, -1, np.int64)
        target[rows * work_shape[0] // spatial_shape[0], cols * work_shape[1] // spatial_shape[1]] = \
            np.searchsorted(classes, scribbles[rows, cols])
        scribble_target = torch.from_numpy(target[np.newaxis]).to(device)
        free = target[np.newaxis] < 0
        free_target_mask = torch.from_numpy(free).to(device) if free.any() else None

    seed_for_torch = int(np.random.default_rng(seed).integers(2**62))
    model = _kanezaki.SegmentationNet(data.shape[0], options.n_features, options.n_conv)
    model.reset_parameters(torch.Generator().manual_seed(seed_for_torch))
    model.to(device).train()
    x = torch.from_numpy(np.ascontiguousarray(data))[np.newaxis].to(device)
    relabel = _kanezaki.Relabel(classes, spatial_shape)
    step_options = dict(superpixels=superpixels, n_superpixels=n_superpixels, scribble_target=scribble_target,
                        free_target_mask=free_target_mask, continuity=float(options.continuity),
                        autocast_dtype=autocast_dtype)
    learning_rate, warmup = options.learning_rate, options.warmup
    total = warmup + options.max_iterations

    def progress(step, loss, labels):
        return Progress(step, total, loss, "backprop", lambda: relabel(labels.cpu().numpy()))

    with retained_heap(device):
        warmup_optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
        for step in range(1, warmup + 1):
            warmup_optimizer.param_groups[0]["lr"] = warmup_lr(step, learning_rate, warmup)
            loss, _, labels = _kanezaki.train_step(model, warmup_optimizer, x, **step_options)
            report(callback, progress(step, loss, labels))
        del warmup_optimizer

        optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
        stop = StopRule(min_labels, STABILISATION_ITERATIONS)
        for iteration in range(options.max_iterations):
            if options.cosine_annealing:
                optimizer.param_groups[0]["lr"] = cosine_restart_lr(iteration, learning_rate)
            loss, n_labels, labels = _kanezaki.train_step(model, optimizer, x, **step_options)
            report(callback, progress(warmup + iteration + 1, loss, labels))
            if stop.update(n_labels):
                break
        return relabel(_kanezaki.final_labels(model, x, spatial_shape, autocast_dtype))


def estimate_backprop_seconds(
    shape,
    *,
    channel_axis: Optional[int] = None,
    n_features: int = _PAPER.n_features,
    n_conv: int = _PAPER.n_conv,
    scale: float = _PAPER.scale,
    max_iterations: int = _PAPER.max_iterations,
    warmup: int = _PAPER.warmup,
    continuity: float = _PAPER.continuity,
    precision: str = _PAPER.precision,
    device=None,
    sample_pixels: int = 128 * 128,
) -> float:
    """Upper bound on the run time of `backprop_segmentation`, in seconds, by timing a few iterations.

    Trains the network for three iterations on a random image of at most
    `sample_pixels` pixels and scales the fastest of the last two by the
    working pixel count and ``warmup + max_iterations``. Runs usually stop
    earlier (see `min_labels`); SLIC and the prior are not included. Takes
    well under a second on a laptop CPU with the defaults.

    Parameters
    ----------
    shape : tuple of int
        The image's shape, channel axis included.
    channel_axis, n_features, n_conv, scale, max_iterations, warmup, continuity, precision, device
        As for `backprop_segmentation`.
    sample_pixels : int, optional
        Size of the timed sample.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If `shape` is not that of a 2-D (+ channels) image or an option is
        out of range.

    Examples
    --------
    >>> estimate_backprop_seconds((64, 64, 3), channel_axis=-1, max_iterations=10, warmup=0) > 0
    True
    """
    BackpropOptions(n_features=n_features, n_conv=n_conv, scale=scale, max_iterations=max_iterations,
                    warmup=warmup, continuity=continuity, precision=precision)
    check_int("sample_pixels", sample_pixels, low=4)
    channel_axis = check_channel_axis(shape, channel_axis)
    n_channels = 1 if channel_axis is None else shape[channel_axis]
    h, w = _working_shape(spatial_shape(shape, channel_axis), scale)
    side = max(2, int(math.sqrt(min(sample_pixels, h * w))))
    device = resolve_device(device)
    generator = torch.Generator().manual_seed(0)
    model = _kanezaki.SegmentationNet(n_channels, n_features, n_conv)
    model.reset_parameters(generator)
    model.to(device).train()
    x = torch.rand((1, n_channels, side, side), generator=generator).to(device)
    grid = torch.arange(side * side, device=device) // 16
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    options = dict(superpixels=grid if continuity == 0 else None, n_superpixels=int(grid[-1]) + 1,
                   scribble_target=None, free_target_mask=None, continuity=float(continuity),
                   autocast_dtype=LOW_DTYPES[precision])
    times = []
    with retained_heap(device):  # as the run itself
        for _ in range(3):
            start = time.perf_counter()
            _kanezaki.train_step(model, optimizer, x, **options)  # returns host scalars, so the device is synchronised
            times.append(time.perf_counter() - start)
    per_pixel = min(times[1:]) / (side * side)
    return per_pixel * h * w * (warmup + max_iterations)
