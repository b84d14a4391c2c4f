"""Validation at the algorithms' boundary: input images, their scaling to [0, 1], numeric options and seeds."""

import math
import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = [
    "ScaledImage", "channels_first", "check_channel_axis", "check_choice", "check_int", "check_number", "check_seed",
    "is_int", "normalize_channel_axis", "prepare_image", "spatial_shape",
]

SEED_BOUND = 2**63
"""Seeds are integers in [0, SEED_BOUND): what an int64 widget field or the CLI can pass, and what
`numpy.random.SeedSequence` takes."""


@dataclass(frozen=True)
class ScaledImage:
    """An image validated and rescaled for the networks.

    Attributes
    ----------
    data : (C, H, W) float32 ndarray
        The image, channels first, min-max scaled to [0, 1].
    low, high : numpy scalar
        The input's smallest and largest value, in its dtype (booleans as
        uint8): ``low`` maps to 0 and ``high`` to 1 (a constant image maps
        to 0).
    channel_axis : int or None
        The input's channel axis, made non-negative; None for grayscale.
    shape : tuple of int
        The input's shape.
    """

    data: np.ndarray
    low: np.generic
    high: np.generic
    channel_axis: Optional[int]
    shape: tuple

    @property
    def spatial_shape(self) -> tuple:
        return self.data.shape[1:]

    def to_unit(self, values) -> np.ndarray:
        """Map `values` (any shape) by the same affine map as the image: ``low`` to 0, ``high`` to 1; float32."""
        return _to_unit(np.asarray(values), self.low, self.high)

    def restore(self, chw: np.ndarray) -> np.ndarray:
        """Map a (C, H, W) array in [0, 1] back to the input's layout and intensity scale, as float32."""
        unit = np.asarray(chw, dtype=np.float64)
        low, high = float(self.low), float(self.high)
        # A convex combination rather than low + unit * (high - low): the span of a float64 image
        # may exceed the largest float64, its ends never do.
        out = ((1.0 - unit) * low + unit * high).astype(np.float32)
        if self.channel_axis is None:
            return out[0]
        return np.moveaxis(out, 0, self.channel_axis)


def _to_unit(values, low, high) -> np.ndarray:
    """``(values - low) / (high - low)`` as float32 without overflow or cancellation (``high == low``: 0).

    Float32 arithmetic suffices for what float32 holds exactly (integers up
    to 16 bits, float16, float32); wider dtypes are computed in float64 or
    wider, and 64-bit integers are first shifted by `low` in uint64 (exact,
    modulo 2**64) because float64 cannot tell neighbours apart above 2**53
    while it holds their distances from the minimum; such values must not
    lie below `low` (the image's own values never do).
    """
    if np.issubdtype(values.dtype, np.integer) and isinstance(low, (int, np.integer)):
        span = int(high) - int(low)
        if values.dtype.itemsize == 8:
            values = values.astype(np.uint64) - np.uint64(int(low) % 2**64)
            low = 0
        work = values.astype(np.promote_types(values.dtype, np.float32))
    else:
        work = values.astype(np.promote_types(values.dtype, np.float32))
        low, high = work.dtype.type(low), work.dtype.type(high)
        with np.errstate(over="ignore"):
            span = high - low
    if span == 0:
        return np.zeros(values.shape, np.float32)
    low, span = work.dtype.type(low), work.dtype.type(span)
    if np.isfinite(span):
        return ((work - low) / span).astype(np.float32)
    # The span of values near both ends of the float range overflows; that of their halves does not
    # (halving is exact but for subnormals, which cannot be such ends).
    half_low = low / 2
    return ((work / 2 - half_low) / (high / 2 - half_low)).astype(np.float32)


def is_int(value) -> bool:
    """Whether `value` is a Python or NumPy integer (booleans are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_choice(name, value, choices):
    """Raise ``ValueError`` unless option `name` is one of `choices` (strings, or None).

    Examples
    --------
    >>> check_choice("rule", "border", ("saliency", "border"))
    >>> check_choice("rule", "middle", ("saliency", "border"))
    Traceback (most recent call last):
    ...
    ValueError: rule='middle' is not one of 'saliency', 'border'
    """
    if not isinstance(value, (str, type(None))) or value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")


def check_int(name, value, low=1):
    """Raise ``ValueError`` unless option `name` is an integer of at least `low`.

    Examples
    --------
    >>> check_int("restarts", True)
    Traceback (most recent call last):
    ...
    ValueError: restarts=True must be a positive integer
    """
    if not is_int(value) or value < low:
        bound = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name}={value!r} must be {bound}")


def check_number(name, value, low=-math.inf, high=math.inf, *, low_open=False, high_open=False, hint="") -> float:
    """Check that option `name` is a real number in the given range and return it as a float.

    Booleans are not numbers here (``scale=True`` is a mistake, not 1), and
    an infinite bound is never reached: values are finite.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : object
        The value given.
    low, high : float, optional
        The accepted range.
    low_open, high_open : bool, optional
        Whether `low` (`high`) itself is excluded.
    hint : str, optional
        Appended to the message, e.g. an example of a good value.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Naming the option, the value and the range.

    Examples
    --------
    >>> check_number("scale", 0.5, 0, 1, low_open=True)
    0.5
    >>> check_number("learning_rate", True, 0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate=True must be a finite number > 0
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if real and math.isfinite(value):
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        if above and below:
            return float(value)
    if math.isinf(low) and math.isinf(high):
        accepted = "a finite number"
    elif math.isinf(high):
        accepted = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif math.isinf(low):
        accepted = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        accepted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise ValueError(f"{name}={value!r} must be {accepted}" + (f"; {hint}" if hint else ""))


def check_seed(seed, *, generator=False, name="seed"):
    """Check a seed: None (fresh entropy) or an integer in [0, 2**63), or a Generator where `generator`.

    Parameters
    ----------
    seed : object
        The value given.
    generator : bool, optional
        Whether a `numpy.random.Generator` is accepted too.
    name : str, optional
        The option's name, for the message.

    Returns
    -------
    int, numpy.random.Generator or None
        `seed`, integers as Python ints.

    Raises
    ------
    ValueError
        Naming the option, the value and what is accepted.

    Examples
    --------
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed=-1 must be None or an integer in [0, 2**63)
    """
    if seed is None or (generator and isinstance(seed, np.random.Generator)):
        return seed
    if is_int(seed) and 0 <= seed < SEED_BOUND:
        return int(seed)
    accepted = "None, an integer in [0, 2**63) or a numpy.random.Generator" if generator \
        else "None or an integer in [0, 2**63)"
    raise ValueError(f"{name}={seed!r} must be {accepted}")


def _spatial_hint(shape, channel_axis):
    ndim = len(shape)
    if channel_axis is None and ndim == 3 and shape[-1] in (3, 4):
        return f"; for an RGB(A) image of shape {shape} use channel_axis=-1"
    if channel_axis is None and ndim == 3:
        return "; for a multichannel image pass channel_axis, for a stack segment each 2-D slice"
    if channel_axis is not None and ndim == 2:
        return "; use channel_axis=None for a grayscale image"
    return ""


def check_channel_axis(shape, channel_axis) -> Optional[int]:
    """Check `channel_axis` against the shape of a 2-D (+ channels) image and make it non-negative.

    Parameters
    ----------
    shape : tuple of int
        The image's shape, channel axis included.
    channel_axis : int or None
        Axis holding the channels; None for grayscale.

    Returns
    -------
    int or None

    Raises
    ------
    ValueError
        If the image is empty, `channel_axis` is not an integer or None, is
        out of range, or the image is not 2-D once the channel axis is set
        aside.

    Examples
    --------
    >>> check_channel_axis((20, 30, 3), -1)
    2
    >>> check_channel_axis((20, 30), None) is None
    True
    """
    shape = tuple(shape)
    ndim = len(shape)
    # Checked first: every later message (window sizes, "at most" bounds) assumes pixels.
    if 0 in shape:
        raise ValueError(f"image is empty (shape {shape})")
    if channel_axis is not None:
        if not is_int(channel_axis):
            raise ValueError(f"channel_axis={channel_axis!r} must be an integer axis or None (grayscale)")
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} but the image has {ndim} dimensions"
                + _spatial_hint(shape, channel_axis)
            )
        channel_axis = int(channel_axis) % ndim
    if ndim - (channel_axis is not None) != 2:
        raise ValueError(
            f"expected a 2-D image (with channel_axis for colour), got shape {shape} "
            f"with channel_axis={channel_axis}" + _spatial_hint(shape, channel_axis)
        )
    return channel_axis


def normalize_channel_axis(image: np.ndarray, channel_axis) -> Optional[int]:
    """`check_channel_axis` for an array."""
    return check_channel_axis(np.shape(image), channel_axis)


def spatial_shape(shape, channel_axis) -> tuple:
    """``(height, width)`` of an image of `shape` with a checked, non-negative `channel_axis`.

    Examples
    --------
    >>> spatial_shape((20, 30, 3), 2)
    (20, 30)
    """
    return tuple(n for axis, n in enumerate(shape) if axis != channel_axis)


def _checked_chw(image, channel_axis, min_size):
    """A validated image as a (C, H, W) view in its own dtype (booleans as uint8), and its channel axis."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8)
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"image must hold integers or floats, got dtype {image.dtype}")
    channel_axis = normalize_channel_axis(image, channel_axis)
    chw = image[np.newaxis] if channel_axis is None else np.moveaxis(image, channel_axis, 0)
    if min(chw.shape[1:]) < min_size:
        raise ValueError(
            f"image is {chw.shape[1]} x {chw.shape[2]} pixels; at least {min_size} x {min_size} is needed"
        )
    if np.issubdtype(chw.dtype, np.floating) and not np.isfinite(chw).all():
        raise ValueError("image contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    return chw, channel_axis


def channels_first(image, channel_axis=None, *, min_size=2, dtype=np.float64):
    """Validate an image and return a (C, H, W) copy of it in `dtype`, and its checked channel axis.

    Values keep their intensity scale (see `prepare_image` for the [0, 1]
    scaling the networks need).

    Raises
    ------
    ValueError
        If the image is empty, not numeric, not 2-D (plus channels), smaller
        than `min_size`, or holds NaN or infinite values.
    """
    chw, channel_axis = _checked_chw(image, channel_axis, min_size)
    return chw.astype(dtype, copy=True), channel_axis


def prepare_image(image, channel_axis=None, *, min_size=2) -> ScaledImage:
    """Validate an image and scale it to [0, 1], channels first.

    Integer, boolean and float images are all min-max scaled over the whole
    image (all channels together, so colour ratios are kept): the darkest
    value maps to 0 and the brightest to 1. A constant image maps to 0.
    The scaling is computed in a dtype that holds the input exactly, so
    values near the ends of the float range do not overflow and a small
    range on a large offset (``1e9 + [0, 10]``) keeps its contrast.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image; the channel axis may be anywhere.
    channel_axis : int or None, optional
        Axis of `image` that holds the channels; None for grayscale.
    min_size : int, optional
        Smallest allowed height and width.

    Returns
    -------
    ScaledImage

    Raises
    ------
    ValueError
        If the image is empty, not 2-D (plus channels), smaller than
        `min_size`, not numeric, or holds NaN or infinite values.

    Examples
    --------
    >>> scaled = prepare_image(np.array([[1e9, 1e9 + 5], [1e9 + 10, 1e9]]))
    >>> scaled.data.tolist()
    [[[0.0, 0.5], [1.0, 0.0]]]
    """
    shape = np.shape(image)
    chw, channel_axis = _checked_chw(image, channel_axis, min_size)
    low, high = chw.min(), chw.max()
    return ScaledImage(_to_unit(chw, low, high), low, high, channel_axis, shape)
