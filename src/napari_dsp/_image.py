"""Validation at the algorithms' boundary: input images, their scaling to [0, 1], integer options."""

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["ScaledImage", "check_int", "is_int", "prepare_image"]


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


def _spatial_hint(image, channel_axis):
    if channel_axis is None and image.ndim == 3 and image.shape[-1] in (3, 4):
        return f"; for an RGB(A) image of shape {image.shape} use channel_axis=-1"
    if channel_axis is None and image.ndim == 3:
        return "; for a multichannel image pass channel_axis, for a stack segment each 2-D slice"
    if channel_axis is not None and image.ndim == 2:
        return "; use channel_axis=None for a grayscale image"
    return ""


def normalize_channel_axis(image: np.ndarray, channel_axis) -> Optional[int]:
    """Check `channel_axis` against a 2-D (+ channels) image and make it non-negative."""
    if channel_axis is not None:
        if not -image.ndim <= channel_axis < image.ndim:
            raise ValueError(
                f"channel_axis={channel_axis} but the image has {image.ndim} dimensions"
                + _spatial_hint(image, channel_axis)
            )
        channel_axis = channel_axis % image.ndim
    n_spatial = image.ndim - (channel_axis is not None)
    if n_spatial != 2:
        raise ValueError(
            f"expected a 2-D image (with channel_axis for colour), got shape {image.shape} "
            f"with channel_axis={channel_axis}" + _spatial_hint(image, channel_axis)
        )
    return channel_axis


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
    chw = chw.astype(np.float32, copy=True)
    if not np.isfinite(chw).all():
        raise ValueError("image contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    lo, hi = float(chw.min()), float(chw.max())
    scale = hi - lo if hi > lo else 1.0
    chw -= lo
    chw /= scale
    return ScaledImage(chw, lo, scale, channel_axis, image.shape)
