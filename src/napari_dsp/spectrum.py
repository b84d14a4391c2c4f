"""Spectral analysis of the prior (DSP paper, section 3.3 and figure 3) and the low-pass baseline.

The paper's claim: the prior damps high spatial frequencies, like a low-pass
filter, but unlike one it keeps enough of them to preserve the edges between
objects. `compare_spectra` puts the azimuthally averaged power spectra of an
image, its prior and its low-pass-filtered version side by side;
`napari_dsp.figures.draw_spectrum` plots them.
"""

from dataclasses import dataclass

import numpy as np

from ._image import channels_first
from .recipes import LOW_PASS_KEEP

__all__ = ["SpectralComparison", "compare_spectra", "low_pass", "radial_power_spectrum"]


def low_pass(image, *, keep=LOW_PASS_KEEP, channel_axis=None):
    """Keep only the lowest spatial frequencies of an image (the paper's LPF baseline).

    Each channel's 2-D FFT is cut to the `keep` fraction of coefficients
    nearest to zero frequency along each axis (a centred rectangle), and
    transformed back.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image; any numeric dtype.
    keep : float, optional
        Fraction of the coefficients kept along each axis, in (0, 1]
        (reference: 0.1). At least the zero frequency is always kept.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale.

    Returns
    -------
    ndarray of float32
        The filtered image, of `image`'s shape and intensity scale (values
        may overshoot its range slightly: ringing).

    Raises
    ------
    ValueError
        If `keep` is not in (0, 1] or the image is not 2-D (plus channels).

    Examples
    --------
    >>> image = np.tile([0.0, 1.0], (8, 4))  # the highest frequency only
    >>> np.allclose(low_pass(image, keep=0.5), 0.5)
    True
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep={keep!r} must be a fraction in (0, 1], e.g. 0.1 for the lowest 10%")
    chw, channel_axis = channels_first(image, channel_axis)
    height, width = chw.shape[1:]
    rows = np.abs(np.fft.fftfreq(height) * height) <= keep * height / 2
    cols = np.abs(np.fft.fftfreq(width) * width) <= keep * width / 2
    spectrum = np.fft.fft2(chw, axes=(-2, -1))
    spectrum *= rows[:, np.newaxis] & cols[np.newaxis, :]
    filtered = np.fft.ifft2(spectrum, axes=(-2, -1)).real.astype(np.float32)
    return filtered[0] if channel_axis is None else np.moveaxis(filtered, 0, channel_axis)


def radial_power_spectrum(image, *, channel_axis=None, n_bins=None):
    """Azimuthally averaged power spectrum of an image's grey level.

    The grey image is the mean of the channels, minus its mean (the zero
    frequency only carries the brightness). Its power ``|FFT|^2 / (M N)``
    is averaged over rings of equal spatial frequency.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image, in the intensity scale the curves are to be compared in.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale.
    n_bins : int, optional
        Number of rings between frequency 0 and 0.5 cycles per pixel
        (default: half the smaller side, one ring per frequency step).

    Returns
    -------
    frequencies : (n_bins,) ndarray
        Ring centres in cycles per pixel.
    power : (n_bins,) ndarray
        Mean power in each ring.

    Examples
    --------
    >>> y, x = np.mgrid[:64, :64]
    >>> freq, power = radial_power_spectrum(np.sin(2 * np.pi * x / 8))
    >>> float(freq[np.argmax(power)])
    0.125
    """
    chw, _ = channels_first(image, channel_axis)
    grey = chw.mean(axis=0)
    grey -= grey.mean()
    height, width = grey.shape
    if n_bins is None:
        n_bins = max(min(height, width) // 2, 1)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins={n_bins!r} must be a positive integer")
    power = np.abs(np.fft.fft2(grey)) ** 2 / grey.size
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij"))
    # Rings centred on multiples of 0.5 / n_bins, so that a pure frequency lands in one ring.
    ring = np.rint(radius * 2 * n_bins).astype(np.int64)
    inside = ring < n_bins
    sums = np.bincount(ring[inside], weights=power[inside], minlength=n_bins)
    counts = np.bincount(ring[inside], minlength=n_bins)
    frequencies = np.arange(n_bins) / (2 * n_bins)
    with np.errstate(invalid="ignore"):
        return frequencies, sums / counts


@dataclass(frozen=True)
class SpectralComparison:
    """Power spectra of an image, its prior and its low-pass version.

    Attributes
    ----------
    frequencies : (B,) ndarray
        Ring centres in cycles per pixel.
    curves : dict of str to (B,) ndarray
        ``"image"``, ``"low-pass"`` and, when a prior was given, ``"prior"``.
    low_passed : ndarray of float32
        The low-pass-filtered image, in the image's shape and scale.
    cutoff : float
        Highest radial frequency the low-pass keeps (cycles per pixel): the
        corner of its rectangle of kept coefficients.
    """

    frequencies: np.ndarray
    curves: dict
    low_passed: np.ndarray
    cutoff: float

    def retained(self, name: str) -> float:
        """Share of the image's power above `cutoff` that curve `name` keeps.

        Zero (to rounding) for the low-pass filter by construction; the
        paper's point is that the prior keeps part of it (the edges).
        """
        half_ring = (self.frequencies[1] - self.frequencies[0]) / 2 if len(self.frequencies) > 1 else 0.0
        above = self.frequencies > self.cutoff + half_ring
        reference = np.nansum(self.curves["image"][above])
        return float(np.nansum(self.curves[name][above]) / reference) if reference > 0 else float("nan")


def compare_spectra(image, prior=None, *, keep=LOW_PASS_KEEP, channel_axis=None):
    """Spectra of an image, its Deep Segmentation Prior and a low-pass baseline.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image.
    prior : array_like, optional
        Its prior (`napari_dsp.prior.deep_segmentation_prior`), of the
        image's shape and intensity scale.
    keep : float, optional
        Fraction of FFT coefficients per axis the low-pass keeps (0.1).
    channel_axis : int or None, optional
        Axis of `image` (and `prior`) holding the channels.

    Returns
    -------
    SpectralComparison

    Raises
    ------
    ValueError
        If `prior` and `image` differ in shape, or as `low_pass`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> result = compare_spectra(rng.random((32, 32)))
    >>> sorted(result.curves), result.retained("low-pass") < 1e-9
    (['image', 'low-pass'], True)
    """
    image = np.asarray(image)
    if prior is not None and np.shape(prior) != image.shape:
        raise ValueError(
            f"prior has shape {np.shape(prior)} but the image has shape {image.shape}; "
            "pass the prior computed from this image"
        )
    filtered = low_pass(image, keep=keep, channel_axis=channel_axis)
    frequencies, image_power = radial_power_spectrum(image, channel_axis=channel_axis)
    curves = {"image": image_power}
    if prior is not None:
        curves["prior"] = radial_power_spectrum(prior, channel_axis=channel_axis)[1]
    curves["low-pass"] = radial_power_spectrum(filtered, channel_axis=channel_axis)[1]
    return SpectralComparison(frequencies, curves, filtered, cutoff=keep / 2 * np.sqrt(2))
