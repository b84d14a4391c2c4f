"""The Deep Image Prior network behind the prior, its seeded initialisation,
and the thread settings that keep CPU training fast.

Private helpers for :mod:`napari_dsp.prior` and :mod:`napari_dsp.doubledip`;
they assume validated input, except `check_max_size`.
"""

import contextlib
import math

import numpy as np
import torch
from torch import nn

from ._image import check_int

__all__ = [
    "MIN_SIZE", "MULTIPLE", "NOISE_CHANNELS", "SkipNet", "check_max_size", "generators", "init_restarts",
    "one_thread_on_cpu", "padded_size",
]

NOISE_CHANNELS = 2
DOWN_CHANNELS = (8, 16, 32)
UP_CHANNELS = (8, 16, 32)
# Each of the three stride-2 convolutions halves the size, and reflection
# padding of the 3x3 convolutions needs at least 2 px at the deepest scale.
MULTIPLE = 2 ** len(DOWN_CHANNELS)
MIN_SIZE = 2 * MULTIPLE


def padded_size(size: int) -> int:
    """The side a network is fitted at: `size` padded up to a multiple of `MULTIPLE`, at least `MIN_SIZE`."""
    return max(MIN_SIZE, math.ceil(size / MULTIPLE) * MULTIPLE)


def check_max_size(max_size) -> None:
    """Raise ``ValueError`` unless the working-size option is 0 (full resolution) or at least `MIN_SIZE`."""
    check_int("max_size", max_size, low=0)
    if 0 < max_size < MIN_SIZE:
        raise ValueError(f"max_size={max_size} must be 0 (full resolution) or at least {MIN_SIZE}")


def generators(seed, count: int) -> list:
    """`count` CPU generators, one per network, all derived from `seed`."""
    children = np.random.SeedSequence(seed).spawn(count)
    return [torch.Generator().manual_seed(int(c.generate_state(1, np.uint64)[0])) for c in children]


@contextlib.contextmanager
def one_thread_on_cpu(device):
    """One intra-op thread while fitting a single network on the CPU.

    These small networks gain little from two threads, and lose tens of
    times over when other processes load the cores (OpenMP's barriers).
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _conv(in_channels, out_channels, kernel_size, groups, *, stride=1, bias=False):
    # Convolutions that feed a BatchNorm carry no bias: BN removes it exactly,
    # so its gradient is pure rounding noise that Adam would blow up to
    # full-size steps and make runs diverge between thread counts and layouts.
    return nn.Conv2d(
        in_channels * groups,
        out_channels * groups,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        # A 1x1 convolution has nothing to pad; "reflect" would still copy its input.
        padding_mode="reflect" if kernel_size > 1 else "zeros",
        groups=groups,
        bias=bias,
    )


def _bn(channels, groups):
    # Train-mode statistics throughout (as the reference); running averages
    # would never be read.
    return nn.BatchNorm2d(channels * groups, track_running_stats=False)


def _scale(level, in_channels, groups):
    """One encoder-decoder scale with the deeper scales nested inside it."""
    down, up = DOWN_CHANNELS[level], UP_CHANNELS[level]
    layers = [
        _conv(in_channels, down, 3, groups, stride=2),
        _bn(down, groups),
        nn.LeakyReLU(0.2),
        _conv(down, down, 3, groups),
        _bn(down, groups),
        nn.LeakyReLU(0.2),
    ]
    if level + 1 < len(DOWN_CHANNELS):
        layers.append(_scale(level + 1, down, groups))
        below = UP_CHANNELS[level + 1]
    else:
        below = down
    layers += [
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        _bn(below, groups),
        _conv(below, up, 3, groups),
        _bn(up, groups),
        nn.LeakyReLU(0.2),
        _conv(up, up, 1, groups),
        _bn(up, groups),
        nn.LeakyReLU(0.2),
    ]
    return nn.Sequential(*layers)


class SkipNet(nn.Module):
    """The DIP "skip" encoder-decoder with three scales and no skip branches.

    ``groups`` independent copies of the network live side by side in one
    module (grouped convolutions, per-channel BatchNorm), so several restarts
    train in one pass; group ``r`` sees only input channels
    ``2r, 2r + 1`` and produces output channels ``r*C .. (r+1)*C - 1``.
    With ``groups=1`` it is the reference network.

    Parameters
    ----------
    out_channels : int
        Channels of the image being fitted (C).
    groups : int, optional
        Number of independent networks.

    Shape
    -----
    - Input: ``(1, 2 * groups, H, W)``, H and W multiples of 8 and at least 16.
    - Output: ``(1, C * groups, H, W)`` in (0, 1).
    """

    def __init__(self, out_channels: int, *, groups: int = 1):
        super().__init__()
        self.out_channels = out_channels
        self.groups = groups
        self.body = _scale(0, NOISE_CHANNELS, groups)
        self.head = _conv(UP_CHANNELS[0], out_channels, 1, groups, bias=True)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        _, channels, height, width = noise.shape
        if (
            channels != NOISE_CHANNELS * self.groups
            or height % MULTIPLE
            or width % MULTIPLE
            or min(height, width) < MIN_SIZE
        ):
            raise ValueError(
                f"SkipNet with groups={self.groups} needs input (N, {NOISE_CHANNELS * self.groups}, H, W) "
                f"with H, W multiples of {MULTIPLE} and at least {MIN_SIZE}; got {tuple(noise.shape)}"
            )
        return torch.sigmoid(self.head(self.body(noise)))


def _uniform_(tensor, bound, generator):
    with torch.no_grad():
        tensor.uniform_(-bound, bound, generator=generator)


def init_restarts(net: SkipNet, generators, height: int, width: int) -> torch.Tensor:
    """Initialise every group of `net` from its own generator; return the noise.

    Group ``r`` draws its weights (PyTorch's default Kaiming-uniform bounds)
    and then its input noise, U[0, 1) x 0.1, from ``generators[r]`` in the
    same order whatever the number of groups, so restart ``r`` starts from the
    same network and noise whether it is trained alone or batched with others.
    Everything is drawn on the CPU; move the net and noise afterwards.

    Returns
    -------
    noise : (1, 2 * groups, height, width) float32 tensor
    """
    if len(generators) != net.groups:
        raise ValueError(f"need {net.groups} generators, got {len(generators)}")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        per_group = conv.out_channels // net.groups
        fan_in = conv.weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        for r, generator in enumerate(generators):
            _uniform_(conv.weight[r * per_group : (r + 1) * per_group], bound, generator)
            if conv.bias is not None:
                _uniform_(conv.bias[r * per_group : (r + 1) * per_group], bound, generator)
    noise = [
        torch.rand(NOISE_CHANNELS, height, width, generator=generator) * 0.1 for generator in generators
    ]
    return torch.cat(noise)[None]


