"""Seconds per training iteration of `backprop_segmentation` for each speed option.

Times the real training step (forward, superpixel vote, cross-entropy,
backward, SGD) on one image, after one untimed iteration, and prints a
Markdown table. Example (the image is 481 x 321 for BSDS500)::

    python benchmarks/backprop_timing.py ../shared/data/bsds500-val/images/100007.jpg --threads 1
"""

import argparse
import platform
import time

import numpy as np
import torch
from skimage.io import imread
from skimage.transform import resize

from napari_dsp._image import prepare_image
from napari_dsp.backprop import SegmentationNet, _superpixels, _train_step

VARIANTS = [
    # name, scale, n_features, precision, channels_last
    ("reference (100 features, full size, float32)", 1.0, 100, None, False),
    ("channels_last memory format", 1.0, 100, None, True),
    ("bfloat16 autocast", 1.0, 100, torch.bfloat16, False),
    ("scale=0.5", 0.5, 100, None, False),
    ("scale=0.25", 0.25, 100, None, False),
    ("n_features=50", 1.0, 50, None, False),
    ("n_features=32", 1.0, 32, None, False),
    ("scale=0.5, n_features=50", 0.5, 50, None, False),
]


def time_variant(chw, scale, n_features, precision, channels_last, repeats):
    h, w = (max(2, round(n * scale)) for n in chw.shape[1:])
    data = resize(chw, (chw.shape[0], h, w), order=1, anti_aliasing=scale < 1).astype(np.float32)
    superpixels = _superpixels(data, 1000, 10)
    model = SegmentationNet(data.shape[0], n_features).train()
    model.reset_parameters(torch.Generator().manual_seed(0))
    x = torch.from_numpy(data)[None]
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    options = dict(superpixels=torch.from_numpy(superpixels.reshape(-1).astype(np.int64)),
                   n_superpixels=int(superpixels.max()) + 1, scribble_target=None, free_target_mask=None,
                   continuity=0.0, autocast_dtype=precision)
    _train_step(model, optimizer, x, **options)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _train_step(model, optimizer, x, **options)
        times.append(time.perf_counter() - start)
    return (h, w), float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="an RGB image file")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations per variant (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chw = prepare_image(imread(args.image), channel_axis=-1).data
    print(f"image {args.image}, {chw.shape[2]} x {chw.shape[1]} pixels; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print("\n| variant | fitted at | s / iteration | relative |\n| --- | --- | --- | --- |")
    reference = None
    for name, scale, n_features, precision, channels_last in VARIANTS:
        (h, w), seconds = time_variant(chw, scale, n_features, precision, channels_last, args.repeats)
        reference = reference or seconds
        print(f"| {name} | {w} x {h} | {seconds:.3f} | {seconds / reference:.2f} |", flush=True)


if __name__ == "__main__":
    main()
