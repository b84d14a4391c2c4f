"""The whole recipe in one call: the Deep Segmentation Prior, then a segmenter on it."""

from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np
from numpy.typing import ArrayLike

from ._device import resolve_device
from ._image import check_choice, check_number, normalize_channel_axis, spatial_shape
from .backprop import BackpropOptions, backprop_segmentation, check_backprop_options
from .kmeans import check_parameters, foreground_background, kmeans_segmentation
from .prior import deep_segmentation_prior
from .recipes import (
    FOREGROUND, FOREGROUND_RULES, METHODS, PAPER, PRECISIONS, REGIONS, PriorRecipe, Recipe, get_preset,
)
from .regions import check_region_options, region_segmentation

__all__ = ["METHODS", "Segmentation", "prior_recipe", "segment"]

_MULTICLASS = ("regions", "backprop")
# The options of `segment` that only the prior's fit uses: a result made without a fit does not record them.
PRIOR_SETTINGS = ("iterations", "restarts", "max_size", "precision")

# Options of backprop_segmentation that the pipeline sets itself.
_BACKPROP_OWN = ("image", "guide", "channel_axis", "device", "seed", "callback")


def checked_region_options(options: Optional[dict]) -> dict:
    """The `region_options` of `segment`, checked, defaults filled in (also for the batch, before its tasks)."""
    options = dict(options or {})
    if "seed" in options:
        raise ValueError("region_options may not set 'seed': segment passes its own seed")
    check_region_options(**options)
    return {**asdict(REGIONS), **options}


def check_fit_prior(method: str, fit_prior: bool) -> None:
    """`segment`'s `fit_prior` may be False only for the one method that does not use the prior (also for the batch)."""
    if not fit_prior and method != "regions":
        raise ValueError(f"fit_prior=False works only with method='regions'; method={method!r} segments the prior")


def prior_recipe(method: str, recipe: Recipe = PAPER) -> PriorRecipe:
    """The prior settings `segment` uses for `method`: multi-class for regions and backprop, else foreground.

    Examples
    --------
    >>> prior_recipe("backprop").iterations, prior_recipe("kmeans").iterations
    (100, 50)
    """
    return recipe.multiclass_prior if method in _MULTICLASS else recipe.foreground_prior


@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare by
class Segmentation:
    """Result of `segment`.

    Attributes
    ----------
    prior : ndarray of float32 or None
        The Deep Segmentation Prior, in the input image's shape and
        intensity scale; None where ``fit_prior=False`` fitted none.
    labels : (M, N) ndarray of int32
        The segmentation: 1..k for ``"kmeans"``, ``"regions"`` and
        ``"backprop"``; 0 (background) and 1 (foreground) for
        ``"foreground"``, ``"kmeans-foreground"`` and ``"doubledip"``.
    parameters : dict
        Every option that produced the result, with defaults filled in and
        the device resolved (JSON-serialisable).
    saliency : (M, N) ndarray of float32 or None
        The saliency map in [0, 1] behind ``"foreground"`` and
        ``"doubledip"``; None for the other methods.
    """

    prior: Optional[np.ndarray]
    labels: np.ndarray
    parameters: dict
    saliency: Optional[np.ndarray] = None


def segment(
    image: ArrayLike,
    *,
    method: str = "kmeans",
    preset: str = PAPER.name,
    n_clusters: int = PAPER.kmeans.n_clusters,
    window: int = PAPER.kmeans.window,
    rule: str = FOREGROUND_RULES[0],
    center_sigma: float = FOREGROUND.center_sigma,
    iterations: Optional[int] = None,
    restarts: Optional[int] = None,
    max_size: Optional[int] = None,
    precision: str = PRECISIONS[0],
    channel_axis: Optional[int] = None,
    device=None,
    seed: Optional[int] = None,
    callback: Optional[Callable] = None,
    backprop_options: Optional[dict] = None,
    region_options: Optional[dict] = None,
    prior: Optional[ArrayLike] = None,
    fit_prior: bool = True,
) -> Segmentation:
    """Compute the Deep Segmentation Prior of an image and segment it.

    Parameters
    ----------
    image : (M, N[, C]) array_like
        The image; any integer or float dtype.
    method : {"kmeans", "foreground", "regions", "kmeans-foreground", "backprop", "doubledip"}, optional
        ``"kmeans"``: `n_clusters` classes by window KMeans on the prior
        (`kmeans_segmentation`). ``"foreground"``: the object-level
        foreground (`napari_dsp.foreground.foreground_segmentation`:
        boundary-connectivity saliency of the prior, then a graph cut on the
        image), the best measured foreground. ``"regions"``: regions merged
        on a superpixel graph of the image, their number chosen per image
        (`napari_dsp.regions.region_segmentation`; on the image rather than
        the prior, which measured worse). ``"kmeans-foreground"``: the
        paper's 2-class KMeans split of the prior
        (`foreground_background`, with `rule`). ``"backprop"``: an unknown
        number of classes by self-training a CNN with SLIC superpixels
        computed on the prior (`backprop_segmentation`, the paper's section
        5; prior 100 iterations, 10 restarts by default). ``"doubledip"``:
        the Double-DIP baseline on the image, hinted by the prior's
        saliency (`napari_dsp.doubledip.double_dip_segmentation`).
    preset : {"paper", "fast"}, optional
        The settings of the prior and of backprop that are not given
        (`napari_dsp.recipes`): ``"paper"`` reproduces the paper, ``"fast"``
        is for interactive use (a reduced working size, fewer networks).
    n_clusters : int, optional
        Number of classes for ``"kmeans"``; ignored by ``"foreground"``.
    window : int, optional
        Odd side of the pixel window the KMeans features are taken from.
    rule : {"saliency", "border"}, optional
        How ``"kmeans-foreground"`` names the foreground class
        (`foreground_background`); ``"border"`` is the first round's rule.
    center_sigma : float, optional
        Spread of the centre prior of ``"foreground"``'s saliency, as a
        fraction of the image side (`foreground_segmentation`): the more
        central of two distinct objects is the foreground. 0 switches it
        off, for objects anywhere in the frame.
    iterations, restarts : int or None, optional
        Training iterations per network and number of networks whose
        median is the prior. None takes the preset's: for ``"paper"`` 50
        and 11 (100 and 10 for ``"backprop"`` and ``"regions"``). Each
        network's output is the mean of its last iterations as the preset
        says (`napari_dsp.recipes.PriorRecipe.average_last`).
    max_size : int or None, optional
        Long side of the prior's working resolution, 0 for full resolution
        (`deep_segmentation_prior`); None takes the preset's.
    precision : {"float32", "bfloat16"}, optional
        Arithmetic of the prior's networks (`deep_segmentation_prior`):
        bfloat16 is faster only on hardware with bfloat16 arithmetic.
        Recorded in the parameters when not float32.
    channel_axis : int or None, optional
        Axis of `image` holding the channels; None for grayscale.
    device : str or None, optional
        Torch device for the prior ("cpu", "cuda", "mps"); None picks the
        best available.
    seed : int or None, optional
        Seed of the prior's networks and of the clustering.
    callback : callable or None, optional
        Called with a `napari_dsp.progress.Progress` after every iteration
        of the prior (``stage="prior"``), then of the backprop segmenter
        (``stage="backprop"``); returning ``False`` cancels.
    backprop_options : dict, optional
        Further keyword arguments of `backprop_segmentation` for
        ``"backprop"`` (e.g. ``{"scale": 0.5, "max_iterations": 300}``);
        checked before the prior is computed.
    region_options : dict, optional
        Further keyword arguments of
        `napari_dsp.regions.region_segmentation` for ``"regions"``, e.g.
        ``{"threshold": 12, "min_size": 0.0005}`` for more, smaller regions;
        checked before the prior is computed.
    prior : array_like or None, optional
        The prior of this `image`, fitted earlier with the same settings
        (the ``prior`` of an earlier result, whose method used the same
        prior): it is used as it is instead of being fitted again, so that
        trying other segmentation options costs no second fit. Same shape
        as `image`. The settings recorded in the result are the ones given.
    fit_prior : bool, optional
        False fits no prior for ``"regions"``, the one method that does not
        use it (it merges regions of the image): the result then comes in
        about a second, its ``prior`` is None (or the `prior` given) and its
        parameters record no prior settings. The other methods segment the
        prior and do not accept False.

    Returns
    -------
    Segmentation
        The prior, the labels and the parameters used.

    Raises
    ------
    ValueError
        If `method` is unknown, an option does not fit the image, `prior`
        is not the image's shape or `fit_prior` is False for a method that
        needs the prior; this is checked before the prior is computed.
    napari_dsp.progress.Cancelled
        If the callback cancels the run.

    See Also
    --------
    napari_dsp.prior.deep_segmentation_prior
    napari_dsp.kmeans.kmeans_segmentation
    napari_dsp.kmeans.foreground_background

    Examples
    --------
    >>> from napari_dsp.samples import load_sample
    >>> result = segment(load_sample("coffee")[::8, ::8], channel_axis=-1,
    ...                  iterations=5, restarts=2, seed=0)  # doctest: +SKIP
    >>> result.labels.shape  # doctest: +SKIP
    (50, 75)
    """
    backprop_options = dict(backprop_options or {})
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; choose one of {', '.join(map(repr, METHODS))}")
    array = np.asarray(image)
    channel_axis = normalize_channel_axis(array, channel_axis)
    if method == "backprop":
        reserved = sorted(set(backprop_options) & set(_BACKPROP_OWN))
        if reserved:
            raise ValueError(f"backprop_options may not set {', '.join(reserved)}: segment passes them itself")
        backprop_options = {**asdict(get_preset(preset).backprop), **backprop_options}
        check_backprop_options(array.shape, channel_axis=channel_axis, guide_shape=array.shape, **backprop_options)
    elif method == "regions":
        region_options = checked_region_options(region_options)
    elif method in ("kmeans", "kmeans-foreground"):
        check_parameters(spatial_shape(array.shape, channel_axis), n_clusters if method == "kmeans" else 2, window)
        check_choice("rule", rule, FOREGROUND_RULES)
    elif method == "foreground":
        check_number("center_sigma", center_sigma, 0)
    check_fit_prior(method, fit_prior)
    check_choice("precision", precision, PRECISIONS)
    recipe = prior_recipe(method, get_preset(preset))
    iterations = recipe.iterations if iterations is None else iterations
    restarts = recipe.restarts if restarts is None else restarts
    max_size = recipe.max_size if max_size is None else max_size
    device = str(resolve_device(device))

    if prior is not None:
        prior = np.asarray(prior, dtype=np.float32)
        if prior.shape != array.shape:
            raise ValueError(f"prior has shape {prior.shape}; it must be the image's shape, {array.shape}")
    elif fit_prior:
        prior = deep_segmentation_prior(
            array, iterations=iterations, restarts=restarts, learning_rate=recipe.learning_rate,
            max_size=max_size, average_last=recipe.average_last, channel_axis=channel_axis, device=device,
            seed=seed, callback=callback, precision=precision,
        )
    parameters = {
        "method": method,
        "preset": preset,
        "iterations": iterations,
        "restarts": restarts,
        "max_size": max_size,
        "channel_axis": channel_axis,
        "device": device,
        "seed": seed,
    }
    if prior is None:
        for key in PRIOR_SETTINGS:
            parameters.pop(key, None)
        parameters["fit_prior"] = False
    elif precision != PRECISIONS[0]:
        parameters["precision"] = precision
    saliency = None
    if method == "backprop":
        labels = backprop_segmentation(array, guide=prior, channel_axis=channel_axis, device=device, seed=seed,
                                       callback=callback, **backprop_options)
        parameters["backprop"] = _backprop_parameters(backprop_options)
    elif method == "kmeans":
        labels = kmeans_segmentation(prior, n_clusters, window=window, channel_axis=channel_axis, seed=seed)
        parameters.update(window=window, n_clusters=n_clusters)
    elif method == "kmeans-foreground":
        labels = foreground_background(prior, window=window, channel_axis=channel_axis, seed=seed, rule=rule)
        parameters.update(window=window, rule=rule)
    elif method == "regions":
        # Measured better on the image than on the prior (docs/results.md, section 6): the prior merges
        # the small regions people draw. It is still computed unless fit_prior=False, for the user to compare.
        labels = region_segmentation(array, channel_axis=channel_axis, seed=seed, **region_options)
        parameters["regions"] = region_options
    elif method == "foreground":
        from .foreground import foreground_segmentation

        found = foreground_segmentation(array, prior=prior, channel_axis=channel_axis, center_sigma=center_sigma,
                                        seed=seed)
        labels, saliency = found.mask.astype(np.int32), found.saliency.astype(np.float32)
        parameters["center_sigma"] = center_sigma
    else:
        from .doubledip import double_dip_segmentation
        from .foreground import saliency_map

        # Double-DIP needs only the hint, not the foreground method's graph cut.
        saliency = saliency_map(prior, channel_axis=channel_axis).astype(np.float32)
        labels = double_dip_segmentation(array, hint=saliency, channel_axis=channel_axis, device=device,
                                         seed=seed, callback=callback).mask
    return Segmentation(prior, labels, parameters, saliency)


def _backprop_parameters(options):
    """The backprop options in effect, defaults filled in; scribbles recorded as their count of pixels."""
    options = dict(options)
    scribbles = options.pop("scribbles", None)
    values = asdict(BackpropOptions(**options))
    values["scribbled_pixels"] = 0 if scribbles is None else int(np.count_nonzero(scribbles))
    return values
