"""Double-DIP foreground/background segmentation, the baseline of the DSP paper's section 4.2.

Three small Deep Image Prior networks, two image layers and a mask, are
fitted so that ``mask * foreground + (1 - mask) * background`` reproduces the
image (Gandelsman, Shocher and Irani, CVPR 2019). A first stage fits the
layers and the mask to foreground/background hints from a saliency map; a
second fits the composite to the image until it is reproduced (PSNR 30). The
mask is sharpened by a guided filter with the image as guide and thresholded
at 0.5.

Differences from the authors' code, which needs CUDA and an external saliency
method: the hints come from `napari_dsp.foreground.saliency_map`; the
networks are the prior's (`napari_dsp._dip.SkipNet`, no bias before a
BatchNorm); the fit runs at a reduced working size (`max_size`) with fewer
iterations by default, the result being interpolated back and filtered at
full resolution; the guided filter is a few box filters
(`scipy.ndimage.uniform_filter`). `DOUBLE_DIP_REFERENCE` holds the authors'
settings.
"""

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.ndimage import uniform_filter
from skimage.filters import threshold_otsu
from skimage.transform import resize

from . import _dip
from ._device import resolve_device
from ._image import check_int, check_number, check_seed, prepare_image
from .prior import working_shape
from .progress import Progress, report
from .recipes import DOUBLE_DIP, DOUBLE_DIP_REFERENCE

__all__ = ["DOUBLE_DIP_REFERENCE", "DoubleDIPResult", "double_dip_segmentation", "guided_filter"]

# The authors' schedule: the hint losses stay on for the first 1000
# second-stage iterations, and the push of the mask away from 0.5 grows in
# steps of 100 iterations up to then.
_HINT_OVERLAP, _GRAY_STEP, _GRAY_WEIGHT = 1000, 100, 0.001


def _noise_std(iteration):
    """The authors' perturbation of the networks' input noise: (iteration // 100) / 1000, then 1e-3 after 1000."""
    return (iteration // 100) / 1000 if iteration < 1000 else 1 / 1000


@dataclass(frozen=True, eq=False)
class DoubleDIPResult:
    """Result of `double_dip_segmentation`.

    Attributes
    ----------
    mask : (M, N) ndarray of int32
        1 for foreground, 0 for background.
    soft_mask : (M, N) ndarray of float32
        The guided-filtered mask in [0, 1] before the threshold.
    foreground, background : ndarray of float32
        The two fitted layers, in the image's shape and intensity scale.
    psnr : float
        How well the composite reproduces the image at the working size, in dB.
    iterations : int
        Second-stage iterations run (fewer than asked when the PSNR reached the stop).
    """

    mask: np.ndarray
    soft_mask: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    psnr: float
    iterations: int


def guided_filter(guide, source, *, radius, eps=1e-4):
    """Edge-preserving smoothing of `source` steered by `guide` (He, Sun and Tang, 2010).

    Parameters
    ----------
    guide : (C, M, N) ndarray
        Guide image, channels first, values in [0, 1].
    source : (M, N) ndarray
        The map to filter.
    radius : int
        Half side of the square window.
    eps : float, optional
        Regularisation; smaller keeps more of the guide's edges.

    Returns
    -------
    (M, N) ndarray of float64

    Examples
    --------
    >>> guide = np.zeros((1, 20, 20)); guide[:, :, 10:] = 1
    >>> noisy = guide[0] + np.random.default_rng(0).normal(0, 0.2, (20, 20))
    >>> smooth = guided_filter(guide, noisy, radius=4)
    >>> bool(abs(smooth[:, :9].mean()) < 0.1 and abs(smooth[:, 11:].mean() - 1) < 0.1)
    True
    """
    size = 2 * radius + 1
    guide = guide.astype(np.float64)
    source = source.astype(np.float64)

    def mean(x):
        return uniform_filter(x, size=size, mode="reflect")

    # A colour guide with one scalar linear model per window: a = cov(I, p) / (var(I) + eps), summed over channels
    # through the window covariance matrix, as in the paper's colour variant.
    channels = guide.shape[0]
    mean_i = np.stack([mean(g) for g in guide])
    mean_p = mean(source)
    cov_ip = np.stack([mean(g * source) for g in guide]) - mean_i * mean_p
    sigma = np.empty((guide.shape[1], guide.shape[2], channels, channels))
    for a in range(channels):
        for b in range(a, channels):
            sigma[..., a, b] = sigma[..., b, a] = mean(guide[a] * guide[b]) - mean_i[a] * mean_i[b]
    sigma += eps * np.eye(channels)
    coefficients = np.linalg.solve(sigma, np.moveaxis(cov_ip, 0, -1)[..., None])[..., 0]
    offset = mean_p - np.einsum("hwc,chw->hw", coefficients, mean_i)
    mean_a = np.stack([mean(coefficients[..., c]) for c in range(channels)])
    return np.einsum("chw,chw->hw", mean_a, guide) + mean(offset)


def _hints(saliency):
    """Foreground and background hint masks from a saliency map: its confident upper and lower parts."""
    threshold = threshold_otsu(saliency) if np.ptp(saliency) > 0 else 0.5
    foreground = saliency >= (1 + threshold) / 2
    background = saliency <= threshold / 2
    if not foreground.any():
        foreground = saliency >= np.quantile(saliency, 0.9)
    if not background.any():
        background = saliency <= np.quantile(saliency, 0.1)
    return foreground.astype(np.float32), background.astype(np.float32)


def _masked_l1(output, target, mask):
    """Mean absolute error over the hinted pixels only (the authors' ExtendedL1Loss)."""
    return (mask * (output - target)).abs().sum() / (mask.sum() * output.shape[1]).clamp(min=1)


def _psnr(composite, target):
    mse = float(((composite - target) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def double_dip_segmentation(
    image: ArrayLike,
    *,
    hint: Optional[ArrayLike] = None,
    max_size: int = DOUBLE_DIP.max_size,
    hint_iterations: int = DOUBLE_DIP.hint_iterations,
    iterations: int = DOUBLE_DIP.iterations,
    learning_rate: float = DOUBLE_DIP.learning_rate,
    stop_psnr: float = DOUBLE_DIP.stop_psnr,
    channel_axis: Optional[int] = None,
    device=None,
    seed: Optional[int] = None,
    callback: Optional[Callable] = None,
) -> DoubleDIPResult:
    """Split an image into foreground and background with Double-DIP.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image, any numeric dtype.
    hint : (M, N) array_like, optional
        Saliency map in [0, 1] whose confident parts (above and below its
        Otsu threshold by half the margin) become the foreground and
        background hints; None computes `napari_dsp.foreground.saliency_map`
        of the image (the authors used Goferman et al.'s saliency).
    max_size : int, optional
        Long side of the working size the networks are fitted at; 0 is the
        full size (the authors').
    hint_iterations : int, optional
        Adam steps of the first stage, fitting layers and mask to the hints
        (authors: 2000).
    iterations : int, optional
        Most Adam steps of the second stage, fitting the composite to the
        image (authors: 4000).
    learning_rate : float, optional
        Adam learning rate (authors: 0.001).
    stop_psnr : float, optional
        The second stage stops once the composite reproduces the image to
        this PSNR in dB (authors: 30).
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale.
    device : str or None, optional
        "cpu", "cuda" or "mps"; None picks the best available.
    seed : int or None, optional
        Seed of the networks' weights and noise.
    callback : callable, optional
        Called after every iteration with a `Progress` (stage
        ``"doubledip"``, ``total = hint_iterations + iterations``);
        returning False cancels.

    Returns
    -------
    DoubleDIPResult

    Raises
    ------
    ValueError
        If an option is out of range or `hint` does not have the image's
        height and width.
    napari_dsp.progress.Cancelled
        If `callback` asked to stop.

    References
    ----------
    .. [1] Y. Gandelsman, A. Shocher, M. Irani, "Double-DIP: Unsupervised
       Image Decomposition via Coupled Deep-Image-Priors", CVPR 2019.
    .. [2] K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010.

    Examples
    --------
    >>> image = np.zeros((32, 32, 3), np.float32)
    >>> image[8:24, 8:24] = (0.9, 0.2, 0.1)
    >>> hint = np.zeros((32, 32)); hint[10:22, 10:22] = 1
    >>> result = double_dip_segmentation(image, hint=hint, channel_axis=-1, hint_iterations=40,
    ...                                  iterations=40, seed=0, device="cpu")
    >>> result.mask.shape, int(result.mask[16, 16]), int(result.mask[2, 2])
    ((32, 32), 1, 0)
    """
    _dip.check_max_size(max_size)
    check_int("hint_iterations", hint_iterations, low=0)
    check_int("iterations", iterations, low=1)
    check_number("learning_rate", learning_rate, low=0, low_open=True)
    check_number("stop_psnr", stop_psnr, low=0, low_open=True)
    seed = check_seed(seed)
    scaled = prepare_image(image, channel_axis, min_size=2)
    height, width = scaled.spatial_shape
    if hint is None:
        from .foreground import saliency_map

        hint = saliency_map(image, channel_axis=channel_axis)
    hint = np.asarray(hint, dtype=np.float64)
    if hint.shape != (height, width):
        raise ValueError(f"hint has shape {hint.shape} but the image is {height} x {width}; pass a saliency map "
                         "of the image's height and width")
    if not np.isfinite(hint).all():
        raise ValueError("hint contains NaN or infinite values")
    device = resolve_device(device)

    work = working_shape((height, width), max_size)
    data = scaled.data
    if work != (height, width):
        data = resize(data, (data.shape[0], *work), order=1, anti_aliasing=True).astype(np.float32)
        hint = resize(hint, work, order=1, anti_aliasing=True)
    foreground_hint, background_hint = _hints(hint)
    padded = tuple(_dip.padded_size(n) for n in work)

    generators = _dip.generators(seed, 4)
    channels = data.shape[0]
    nets = [_dip.SkipNet(channels), _dip.SkipNet(channels), _dip.SkipNet(1)]
    noises = [_dip.init_restarts(net, [g], *padded) for net, g in zip(nets, generators)]
    noises[1] = noises[0]  # the two layers share their input, as in the authors' code
    nets = [net.to(device) for net in nets]
    noises = [noise.to(device) for noise in noises]
    target = torch.from_numpy(data)[None].to(device)
    fg_hint = torch.from_numpy(foreground_hint)[None, None].to(device)
    bg_hint = torch.from_numpy(background_hint)[None, None].to(device)
    mask_hint = (fg_hint - bg_hint + 1) / 2
    perturbation = generators[3]
    crop = (slice(None), slice(None), slice(0, work[0]), slice(0, work[1]))

    def forward(std):
        outputs = []
        for net, noise in zip(nets, noises):
            jitter = torch.randn(noise.shape, generator=perturbation).to(device) * std if std else 0
            outputs.append(net(noise + jitter)[crop])
        return outputs

    with _dip.one_thread_on_cpu(device):
        return _fit(nets, noises, forward, target, fg_hint, bg_hint, mask_hint, scaled, (height, width), work,
                    hint_iterations, iterations, learning_rate, stop_psnr, callback)


def _fit(nets, noises, forward, target, fg_hint, bg_hint, mask_hint, scaled, shape, work, hint_iterations,
         iterations, learning_rate, stop_psnr, callback):
    """Both stages, then the guided filter at full size; see `double_dip_segmentation`."""
    height, width = shape
    total = hint_iterations + iterations
    parameters = [p for net in nets for p in net.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    step = 0
    for iteration in range(hint_iterations):
        optimizer.zero_grad(set_to_none=True)
        front, back, mask = forward(_noise_std(iteration))
        loss = (_masked_l1(front, target, fg_hint) + _masked_l1(back, target, bg_hint)
                + (mask - mask_hint).abs().mean())
        loss.backward()
        optimizer.step()
        step += 1
        report(callback, Progress(step, total, loss.item(), "doubledip"))

    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    psnr, run = 0.0, 0
    for iteration in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        front, back, mask = forward(_noise_std(iteration))
        composite = mask * front + (1 - mask) * back
        loss = 0.5 * (composite - target).abs().mean()
        if iteration <= _HINT_OVERLAP:
            loss = loss + _masked_l1(front, target, fg_hint) + _masked_l1(back, target, bg_hint)
        # Pushing the mask away from 0.5 (the authors' GrayLoss), more and more for the first 1000 iterations.
        gray = 1 / (mask - 0.5).abs().mean().clamp(min=1e-6)
        loss = loss + _GRAY_WEIGHT * (min(iteration, _HINT_OVERLAP) // _GRAY_STEP) * gray
        loss.backward()
        optimizer.step()
        step, run = step + 1, run + 1
        psnr = _psnr(composite.detach(), target)
        report(callback, Progress(step, total, loss.item(), "doubledip"))
        if psnr > stop_psnr:
            break

    with torch.no_grad():
        front, back, mask = (out[0].cpu().numpy() for out in forward(0.0))
    if work != (height, width):
        front, back, mask = (resize(a, (a.shape[0], height, width), order=1, anti_aliasing=False)
                             for a in (front, back, mask))
    radius = max(1, round(max(height, width) / 9))  # the authors' 50 px on their ~450 px images
    soft = np.clip(guided_filter(scaled.data, mask[0], radius=radius), 0, 1).astype(np.float32)
    return DoubleDIPResult(
        mask=(soft > 0.5).astype(np.int32), soft_mask=soft,
        foreground=scaled.restore(front), background=scaled.restore(back), psnr=float(psnr), iterations=run,
    )
