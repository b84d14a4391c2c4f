"""Validation at the algorithms' boundary: input images, their scaling to [0, 1], integer options."""

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = [
    "ScaledImage", "channels_first", "check_channel_axis", "check_int", "is_int", "normalize_channel_axis",
    "prepare_image", "spatial_shape",
]


@dataclass(frozen=True)
class ScaledImage:
    """An image validated and rescaled for the networks.

    Attributes
    ----------
    data : (C, H, W) float32 ndarray
        The image, channels first, min-max scaled to [0, 1].
    offset, scale : float
        ``original = data * scale + offset``.
    channel_axis : int or None
        The input's channel axis, made non-negative; None for grayscale.
    shape : tuple of int
        The input's shape.
    """

    data: np.ndarray
    offset: float
    scale: float
    channel_axis: Optional[int]
    shape: tuple

    @property
    def spatial_shape(self) -> tuple:
        return self.data.shape[1:]

    def restore(self, chw: np.ndarray) -> np.ndarray:
        """Map a (C, H, W) array in [0, 1] back to the input's layout and intensity scale."""
        out = np.asarray(chw, dtype=np.float32) * np.float32(self.scale) + np.float32(self.offset)
        if self.channel_axis is None:
            return out[0]
        return np.moveaxis(out, 0, self.channel_axis)


def is_int(value) -> bool:
    """Whether `value` is a Python or NumPy integer (booleans are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(name, value, low=1):
    """Raise ``ValueError`` unless option `name` is an integer of at least `low`."""
    if not is_int(value) or value < low:
        bound = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name}={value!r} must be {bound}")


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
        If `channel_axis` is not an integer or None, is out of range, or the
        image is not 2-D once the channel axis is set aside.

    Examples
    --------
    >>> check_channel_axis((20, 30, 3), -1)
    2
    >>> check_channel_axis((20, 30), None) is None
    True
    """
    shape = tuple(shape)
    ndim = len(shape)
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
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8)
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"image must hold integers or floats, got dtype {image.dtype}")
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")
    channel_axis = normalize_channel_axis(image, channel_axis)
    chw = image[np.newaxis] if channel_axis is None else np.moveaxis(image, channel_axis, 0)
    if min(chw.shape[1:]) < min_size:
        raise ValueError(
            f"image is {chw.shape[1]} x {chw.shape[2]} pixels; at least {min_size} x {min_size} is needed"
        )
    chw = chw.astype(dtype, copy=True)
    if not np.isfinite(chw).all():
        raise ValueError("image contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    return chw, channel_axis


def prepare_image(image, channel_axis=None, *, min_size=2) -> ScaledImage:
    """Validate an image and scale it to [0, 1], channels first.

    Integer, boolean and float images are all min-max scaled over the whole
    image (all channels together, so colour ratios are kept): the darkest
    value maps to 0 and the brightest to 1. A constant image maps to 0.

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
    """
    shape = np.shape(image)
    chw, channel_axis = channels_first(image, channel_axis, min_size=min_size, dtype=np.float32)
    lo, hi = float(chw.min()), float(chw.max())
    scale = hi - lo if hi > lo else 1.0
    chw -= lo
    chw /= scale
    return ScaledImage(chw, lo, scale, channel_axis, shape)
