"""Allocator settings that keep training loops on the CPU out of the kernel.

Every training iteration of the prior's networks and of the backprop
segmenter allocates and frees the same few large activation buffers. By
default glibc returns such blocks to the system on free (munmap, or a heap
trim) and the kernel zero-fills every page again on its next first touch:
about a quarter of the prior's CPU time at 512 px, and half of backprop's
wall time on a BSDS500 image at the `fast` preset's half size.
"""

import contextlib
import ctypes
import threading

__all__ = ["retained_heap"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_GLIBC_DEFAULT_MMAP_MAX = 65536
# Any mallopt call switches off glibc's dynamic thresholds for the rest of the
# process, so leaving the context sets what that rule reaches after freeing an
# image-sized array: mmap only above its 32 MiB ceiling, and a trim threshold
# of twice that. Left at glibc's initial 128 KiB, every later array of an
# image's size would be mapped and zero-filled anew (backprop after the prior
# spent most of its time in the kernel that way).
_MMAP_AFTER = 32 << 20
_TRIM_AFTER = 2 * _MMAP_AFTER
_heap_lock = threading.Lock()
_heap_users = 0


def _glibc():
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - absent from musl, macOS and Windows C libraries
    except (OSError, AttributeError, TypeError):
        return None
    return libc


@contextlib.contextmanager
def retained_heap(device=None):
    """Keep freed memory in the process while CPU training runs (glibc only).

    Inside this context big blocks come from the heap and stay there; on
    leaving it (the last of concurrent users) mmap is allowed again for
    blocks above 32 MiB and the free memory is returned to the system.
    Elsewhere, or when `device` (a ``torch.device``) is not the CPU, this
    does nothing.
    """
    global _heap_users
    libc = _glibc()
    if libc is None or (device is not None and device.type != "cpu"):
        yield
        return
    with _heap_lock:
        if _heap_users == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
        _heap_users += 1
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0:
                libc.mallopt(_M_MMAP_MAX, _GLIBC_DEFAULT_MMAP_MAX)
                libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_AFTER)
                libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_AFTER)
                libc.malloc_trim(0)
