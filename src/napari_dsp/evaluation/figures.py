"""The DSP paper's figures, recomputed for any image: spectra (fig. 3), window robustness (fig. 6), SLIC (fig. 9).

Each ``*_figure`` function draws into a matplotlib `Figure` (a new one, or
the one passed, e.g. a napari dock widget's canvas) and returns it; the
numbers behind the panels are in the panel titles so that a figure is also
a measurement. matplotlib is imported inside the functions with the Agg
backend for new figures, so importing this module costs nothing.
"""

import numpy as np

from .._image import (
    check_channel_axis,
    check_int,
    check_number,
    check_seed,
    normalize_channel_axis,
    prepare_image,
    spatial_shape,
)
from ..recipes import LOW_PASS_KEEP, PAPER
from ..spectrum import compare_spectra
from .metrics import boundary_irregularity, variation_of_information

__all__ = [
    "check_slic_options", "check_spectrum_options", "check_window_options", "draw_spectrum", "slic_figure",
    "spectrum_figure", "window_figure",
]


def check_spectrum_options(*, keep=LOW_PASS_KEEP):
    """Check the options of `spectrum_figure` (for callers that compute the prior first).

    Raises
    ------
    ValueError
        If `keep` is not a number in (0, 1].
    """
    check_number("keep", keep, 0, 1, low_open=True, hint="e.g. 0.1 for the lowest 10%")


def check_window_options(shape, *, windows=(1, 3, 5, 7), n_clusters=PAPER.kmeans.n_clusters, channel_axis=None,
                         seed=0):
    """Check the options of `window_figure` for an image of `shape` (for callers that compute the prior first).

    Raises
    ------
    ValueError
        If `windows` is empty, a window or `n_clusters` is invalid for the
        image (see `napari_dsp.kmeans.kmeans_segmentation`), or `seed` is
        not a seed.
    """
    from ..kmeans import check_parameters

    windows = list(windows)
    if not windows:
        raise ValueError("windows is empty; pass window sides such as (1, 3, 5, 7)")
    spatial = spatial_shape(shape, check_channel_axis(shape, channel_axis))
    for window in windows:
        check_parameters(spatial, n_clusters, window)
    check_seed(seed, generator=True)


def check_slic_options(*, n_segments=PAPER.backprop.n_segments, compactness=PAPER.backprop.compactness):
    """Check the options of `slic_figure` (for callers that compute the prior first).

    Raises
    ------
    ValueError
        If `n_segments` is not a positive integer or `compactness` not a
        positive number.
    """
    check_int("n_segments", n_segments)
    check_number("compactness", compactness, 0, low_open=True, hint="e.g. 10")


def _new_figure(figure, size):
    if figure is not None:
        figure.clear()
        return figure
    from matplotlib.figure import Figure

    # A bare Figure needs no pyplot state and renders with Agg on savefig.
    return Figure(figsize=size, layout="constrained")


def _displayable(array, reference):
    """(H, W, 3) or (H, W) float image in [0, 1], scaled like `reference` (a ScaledImage)."""
    chw = reference.to_unit(array)
    chw = chw[np.newaxis] if reference.channel_axis is None else np.moveaxis(chw, reference.channel_axis, 0)
    chw = np.clip(chw, 0, 1)
    return chw[0] if chw.shape[0] == 1 else np.moveaxis(chw[:3], 0, -1)


def _show(ax, image, title):
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _check_prior(image, prior):
    if prior is not None and np.shape(prior) != np.shape(image):
        raise ValueError(
            f"prior has shape {np.shape(prior)} but the image has shape {np.shape(image)}; "
            "pass the prior computed from this image"
        )


def draw_spectrum(ax, comparison):
    """Plot the power spectra of a `SpectralComparison` on matplotlib axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw; the axes are cleared first.
    comparison : napari_dsp.spectrum.SpectralComparison
        From `napari_dsp.spectrum.compare_spectra`.

    Returns
    -------
    matplotlib.axes.Axes
        `ax`.
    """
    ax.clear()
    styles = {"image": ("black", "-"), "prior": ("tab:red", "-"), "low-pass": ("tab:blue", "--")}
    for name, power in comparison.curves.items():
        color, line = styles.get(name, (None, "-"))
        label = name if name == "image" else f"{name} (keeps {comparison.retained(name):.1%} above cut-off)"
        # The zero-frequency ring is the removed mean: nothing to show on a log axis.
        ax.semilogy(comparison.frequencies[1:], power[1:], line, color=color, label=label, linewidth=1.2)
    ax.axvline(comparison.cutoff, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("mean power")
    ax.set_title("azimuthally averaged power spectrum", fontsize=9)
    ax.legend(fontsize=8)
    return ax


def spectrum_figure(image, prior=None, *, keep=LOW_PASS_KEEP, channel_axis=None, figure=None):
    """The paper's figure 3: image, prior, low-pass image and their power spectra.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image.
    prior : array_like, optional
        Its Deep Segmentation Prior, same shape and intensity scale; without
        it only the image and the low-pass baseline are shown.
    keep : float, optional
        Fraction of FFT coefficients per axis the low-pass keeps (0.1).
    channel_axis : int or None, optional
        Axis of `image` (and `prior`) holding the channels.
    figure : matplotlib.figure.Figure, optional
        Figure to draw into (it is cleared); a new one by default.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = spectrum_figure(rng.random((32, 32)))
    >>> len(fig.axes)
    3
    """
    check_spectrum_options(keep=keep)
    _check_prior(image, prior)
    comparison = compare_spectra(image, prior, keep=keep, channel_axis=channel_axis)
    reference = prepare_image(image, channel_axis)
    panels = [("image", image)] + ([("prior", prior)] if prior is not None else [])
    panels.append((f"low-pass ({keep:.0%} of coefficients per axis)", comparison.low_passed))
    figure = _new_figure(figure, (3.2 * len(panels), 6.0))
    grid = figure.add_gridspec(2, len(panels), height_ratios=(1, 1.1))
    for column, (title, array) in enumerate(panels):
        _show(figure.add_subplot(grid[0, column]), _displayable(array, reference), title)
    draw_spectrum(figure.add_subplot(grid[1, :]), comparison)
    return figure


def window_figure(
    image, prior, *, windows=(1, 3, 5, 7), n_clusters=PAPER.kmeans.n_clusters, channel_axis=None, seed=0, figure=None,
):
    """The paper's figure 6: KMeans at several window sizes, on the image and on the prior.

    Each row's titles give the variation of information (nats) between that
    window's labels and the first window's: how much the result depends on
    the window. The paper's claim is that on the prior it barely changes.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image.
    prior : array_like
        Its Deep Segmentation Prior, same shape and intensity scale.
    windows : sequence of int, optional
        Odd window sides to compare (paper: 1, 3, 5; 7 is the default).
    n_clusters : int, optional
        KMeans classes (2, foreground/background as in the paper).
    channel_axis : int or None, optional
        Axis of `image` (and `prior`) holding the channels.
    seed : int, optional
        Seed of the clustering.
    figure : matplotlib.figure.Figure, optional
        Figure to draw into (it is cleared); a new one by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `windows` is empty or a window is invalid for the image (see
        `napari_dsp.kmeans.kmeans_segmentation`), or the prior's shape differs.
    """
    from ..kmeans import kmeans_segmentation

    if prior is None:
        raise ValueError("the window comparison needs the prior; compute it with deep_segmentation_prior")
    _check_prior(image, prior)
    windows = list(windows)
    check_window_options(np.shape(image), windows=windows, n_clusters=n_clusters, channel_axis=channel_axis, seed=seed)
    reference = prepare_image(image, channel_axis)
    rows = [("image", image), ("prior", prior)]
    figure = _new_figure(figure, (2.6 * (len(windows) + 1), 5.4))
    axes = figure.subplots(2, len(windows) + 1, squeeze=False)
    for row, (name, source) in enumerate(rows):
        labels = [kmeans_segmentation(source, n_clusters, window=w, channel_axis=channel_axis, seed=seed)
                  for w in windows]
        for column, (window, current) in enumerate(zip(windows, labels)):
            title = f"{name}, {window}x{window}"
            if column:
                change = variation_of_information(current, labels[0])
                title += f"\nVI to {windows[0]}x{windows[0]}: {change:.3f}"
            axes[row, column].imshow(current, cmap="viridis", interpolation="nearest")
            axes[row, column].set_title(title, fontsize=9)
            axes[row, column].set_axis_off()
        _show(axes[row, -1], _displayable(source, reference), name)
    return figure


def _slic(chw, n_segments, compactness):
    """SLIC on a (C, H, W) image in [0, 1], the way `backprop_segmentation` compares colours."""
    from skimage.segmentation import slic

    if chw.shape[0] == 3:
        return slic(np.moveaxis(chw, 0, -1), n_segments=n_segments, compactness=compactness,
                    channel_axis=-1, start_label=1)
    # Lab spans about 0..100; scaling other images alike gives `compactness` the same meaning.
    return slic(np.moveaxis(chw * 100, 0, -1), n_segments=n_segments, compactness=compactness,
                channel_axis=-1, convert2lab=False, start_label=1)


def slic_figure(
    image, prior, *, n_segments=PAPER.backprop.n_segments, compactness=PAPER.backprop.compactness,
    channel_axis=None, figure=None,
):
    """The paper's figure 9: SLIC superpixel boundaries on the image and on its prior.

    Titles give the boundary irregularity (`napari_dsp.metrics.boundary_irregularity`):
    about 2 to 3 for compact superpixels whatever their number, larger when
    boundaries wander along texture and noise.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image.
    prior : array_like
        Its Deep Segmentation Prior, same shape and intensity scale.
    n_segments, compactness : int, float, optional
        SLIC parameters (paper: 1000 and 10).
    channel_axis : int or None, optional
        Axis of `image` (and `prior`) holding the channels.
    figure : matplotlib.figure.Figure, optional
        Figure to draw into (it is cleared); a new one by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If `prior` is missing or of another shape, or an option is out of
        range (see `check_slic_options`).
    """
    from skimage.segmentation import mark_boundaries

    check_slic_options(n_segments=n_segments, compactness=compactness)
    if prior is None:
        raise ValueError("the SLIC comparison needs the prior; compute it with deep_segmentation_prior")
    _check_prior(image, prior)
    channel_axis = normalize_channel_axis(np.asarray(image), channel_axis)
    reference = prepare_image(image, channel_axis)
    figure = _new_figure(figure, (11.0, 4.0))
    axes = figure.subplots(1, 3, squeeze=False)[0]
    shown = _displayable(image, reference)
    _show(axes[0], shown, "image")
    for ax, (name, source) in zip(axes[1:], [("image", image), ("prior", prior)]):
        scaled = _displayable(source, reference)
        chw = scaled[np.newaxis] if scaled.ndim == 2 else np.moveaxis(scaled, -1, 0)
        segments = _slic(chw, n_segments, compactness)
        irregularity = boundary_irregularity(segments)
        rgb = shown if shown.ndim == 3 else np.repeat(shown[..., np.newaxis], 3, axis=-1)
        _show(ax, mark_boundaries(rgb, segments, color=(1, 1, 0)),
              f"SLIC on the {name}: {segments.max()} superpixels,\nboundary irregularity {irregularity:.2f}")
    return figure
