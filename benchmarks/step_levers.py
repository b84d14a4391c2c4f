"""Seconds per training step of one prior network on the CPU, with and without two candidate speed levers.

The profile in benchmarks/README.md left two levers for the ``paper`` preset:
the 1x1 convolutions as matrix products on the channels-last layout (their
backward runs on torch's slow path), and fusing BatchNorm + LeakyReLU, which
only a compiler can do (``torch.compile``). This times one restart of the
prior network (channels-last, one thread, as the package trains it) in one
process, alternating the variants for ``--rounds`` rounds so that drift in the
machine's load hits every variant alike::

    .venv/bin/python benchmarks/step_levers.py --size 512 --steps 15 --rounds 3
"""

import argparse
import time

import torch
from torch import nn


class MatmulConv1x1(nn.Conv2d):
    """A 1x1 convolution (groups=1) computed as a matrix product over the channels-last pixels."""

    def forward(self, x):
        y = x.permute(0, 2, 3, 1) @ self.weight[:, :, 0, 0].t()
        if self.bias is not None:
            y = y + self.bias
        return y.permute(0, 3, 1, 2)


def build(size, variant):
    from napari_dsp import _dip

    net = _dip.SkipNet(3)
    noise = _dip.init_restarts(net, _dip.generators(0, 1), size, size)
    if variant == "matmul-1x1":
        for module in net.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1):
                module.__class__ = MatmulConv1x1
    net = net.to(memory_format=torch.channels_last)
    noise = noise.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(net) if variant == "compile" else net
    target = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = (forward(noise) - target).abs().mean()
        loss.backward()
        optimizer.step()

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["eager", "matmul-1x1", "compile"],
                        choices=["eager", "matmul-1x1", "compile"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    steps, first = {}, {}
    for variant in args.variants:
        steps[variant] = build(args.size, variant)
        start = time.perf_counter()
        steps[variant]()  # the compiler works here
        first[variant] = time.perf_counter() - start
    times = {variant: [] for variant in args.variants}
    for _ in range(args.rounds):
        for variant in args.variants:
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[variant]()
            times[variant].append((time.perf_counter() - start) / args.steps)
    base = min(times[args.variants[0]])
    print(f"| variant ({args.size} px, 1 thread) | first step s | s / step (best of {args.rounds}) "
          f"| all rounds | vs {args.variants[0]} |")
    print("| --- | --- | --- | --- | --- |")
    for variant in args.variants:
        best = min(times[variant])
        print(f"| {variant} | {first[variant]:.2f} | {best:.3f} | {', '.join(f'{t:.3f}' for t in times[variant])} "
              f"| {base / best:.2f}x |")


if __name__ == "__main__":
    main()
