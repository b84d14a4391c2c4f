"""The retained heap: training loops on the CPU reuse freed memory instead of faulting it in again."""

import contextlib

import numpy as np
import pytest
import torch

import napari_dsp._kanezaki
import napari_dsp.backprop
from napari_dsp import _heap
from napari_dsp._kanezaki import train_step
from napari_dsp.backprop import backprop_segmentation

resource = pytest.importorskip("resource")  # Unix only; the allocator settings are glibc's
pytestmark = pytest.mark.skipif(_heap._glibc() is None, reason="the allocator settings are glibc's")


def minor_faults(function):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    function()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def churn(times=10, size=8 << 20):
    for _ in range(times):
        block = np.ones(size)  # 64 MiB by default, above glibc's largest mmap threshold
        del block


def test_freed_blocks_are_reused_inside_and_returned_after():
    outside = minor_faults(churn)
    with _heap.retained_heap():
        churn(1)  # the first block grows the heap once
        inside = minor_faults(churn)
    after = minor_faults(churn)
    assert inside * 5 < outside
    assert after * 3 > outside * 2  # mmap is back: each block is faulted in again


def test_leaving_the_heap_keeps_image_sized_blocks_off_mmap():
    # glibc starts by mapping every block from 128 KiB up; mallopt ends its dynamic rule, so the context
    # must leave a sensible threshold behind rather than that one.
    _heap._glibc().mallopt(_heap._M_MMAP_THRESHOLD, 128 << 10)
    with _heap.retained_heap():
        pass
    churn(1, 2 << 20)
    mid_sized = minor_faults(lambda: churn(10, 2 << 20))  # 16 MiB each
    assert mid_sized * 20 < minor_faults(churn)


def test_other_devices_leave_the_allocator_alone(monkeypatch):
    # Recorded rather than counted in page faults: those depend on what earlier tests left in the heap.
    calls = []

    class Recorder:
        def mallopt(self, *args):
            calls.append(("mallopt", *args))

        def malloc_trim(self, *args):
            calls.append(("malloc_trim", *args))

    monkeypatch.setattr(_heap, "_glibc", Recorder)
    with _heap.retained_heap(torch.device("meta")):  # any device but the CPU, as a GPU would be
        assert calls == []
    assert calls == []
    with _heap.retained_heap(torch.device("cpu")):
        assert ("mallopt", _heap._M_MMAP_MAX, 0) in calls


def test_nested_users_keep_the_heap_until_the_last_leaves():
    with _heap.retained_heap():
        with _heap.retained_heap():
            churn(1)
        inside = minor_faults(churn)
    assert inside * 5 < minor_faults(churn)


def test_backprop_on_the_cpu_trains_in_the_retained_heap(monkeypatch):
    inside = []
    steps = []

    @contextlib.contextmanager
    def spy(device=None):
        with _heap.retained_heap(device):
            inside.append(True)
            yield
            inside.pop()

    def step(*args, **kwargs):
        steps.append(bool(inside))
        return train_step(*args, **kwargs)

    monkeypatch.setattr(napari_dsp.backprop, "retained_heap", spy)
    monkeypatch.setattr(napari_dsp._kanezaki, "train_step", step)
    image = np.random.default_rng(0).random((32, 32, 3))
    backprop_segmentation(image, channel_axis=-1, n_features=8, max_iterations=5, warmup=2, device="cpu", seed=0)
    assert steps == [True] * 7
