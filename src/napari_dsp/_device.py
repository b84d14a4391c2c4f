"""Choice of the torch device."""

import torch

__all__ = ["LOW_DTYPES", "autocast", "available_devices", "resolve_device"]

LOW_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}
"""The dtype below float32 that each of `napari_dsp.recipes.PRECISIONS` computes the networks in (None: none)."""


def autocast(device_type: str, dtype):
    """Autocast to `dtype`, a value of `LOW_DTYPES`, on `device_type`; None (float32) runs as written."""
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


def available_devices() -> list[str]:
    """Device names usable on this machine, best first ("cuda", "mps", "cpu")."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(device=None) -> torch.device:
    """Return the torch device to run on.

    ``None`` or ``"auto"`` picks CUDA, then Apple MPS, then the CPU. A device
    that was asked for by name but is absent raises ``ValueError``.
    """
    if device is None or device == "auto":
        return torch.device(available_devices()[0])
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a device; use None, 'cpu', 'cuda' or 'mps'") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={str(device)!r} is not supported; use 'cpu', 'cuda' or 'mps'")
    if device.type not in available_devices():
        raise ValueError(
            f"device={str(device)!r} was requested but is not available on this machine "
            f"(available: {', '.join(available_devices())}); use device=None to pick one"
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={str(device)!r} was requested but this machine has {torch.cuda.device_count()} GPU(s), "
            f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return device
