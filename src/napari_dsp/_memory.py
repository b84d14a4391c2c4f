"""Memory budgets: what is free on a device, and a working size that fits in it."""

import math
import warnings
from typing import Optional

import psutil


def available_bytes(device=None) -> Optional[int]:
    """Memory free on the torch `device`: available RAM (psutil) for the CPU or None, free GPU memory, else None."""
    if device is None or device.type == "cpu":
        return int(psutil.virtual_memory().available)
    if device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    return None


def shrink_to_fit(arrays, bytes_per_pixel, method):
    """`arrays`, or smaller copies of them that fit in half of the free RAM at `bytes_per_pixel`.

    Methods that work on every pixel of a very large image (a slide scan, a
    stitched mosaic) would otherwise swap. The copies keep the aspect ratio and
    are anti-aliased; one warning names the size used.

    Parameters
    ----------
    arrays : sequence of (C, H, W) ndarray
        Images of one spatial shape, channels first (an image and its prior).
    bytes_per_pixel : float
        Peak memory of the method per pixel.
    method : str
        The method's name, for the warning.

    Returns
    -------
    list of (C, h, w) ndarray
        The arrays themselves when they fit.
    """
    from skimage.transform import resize

    height, width = arrays[0].shape[1:]
    budget = available_bytes() / 2
    if bytes_per_pixel * height * width <= budget:
        return list(arrays)
    factor = math.sqrt(budget / (bytes_per_pixel * height * width))
    shape = (max(2, int(height * factor)), max(2, int(width * factor)))
    warnings.warn(
        f"{method} on a {height} x {width} image needs about {bytes_per_pixel * height * width / 2**30:.1f} GiB, "
        f"more than half of the {2 * budget / 2**30:.1f} GiB free; segmenting it at {shape[0]} x {shape[1]} "
        "and enlarging the result",
        stacklevel=3,  # the line that called the method
    )
    return [resize(chw, (chw.shape[0], *shape), order=1, anti_aliasing=True).astype(chw.dtype) for chw in arrays]


def enlarge(array, shape, order=0):
    """`array` (H, W) brought to `shape`: nearest neighbour (``order=0``; labels stay connected) or bilinear."""
    if array.shape == tuple(shape):
        return array
    from skimage.transform import resize

    return resize(array, shape, order=order, preserve_range=True, anti_aliasing=False).astype(array.dtype)
