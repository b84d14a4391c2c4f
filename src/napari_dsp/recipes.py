"""The settings of every method in one place: the paper's recipe, and presets beside it.

Every default of the library functions, the command line, the widgets and
the benchmark is read from here, so that they cannot drift apart. A preset is
a `Recipe`; `PRESETS` maps its name to it.

Examples
--------
>>> from napari_dsp.recipes import PAPER, get_preset
>>> PAPER.foreground_prior.iterations, PAPER.foreground_prior.restarts
(50, 11)
>>> get_preset("paper").kmeans.window
7
"""

from dataclasses import dataclass, field

__all__ = [
    "DOUBLE_DIP", "DOUBLE_DIP_REFERENCE", "FAST", "FOREGROUND", "FOREGROUND_RULES", "LOW_PASS_KEEP", "METHODS",
    "PAPER", "PRECISIONS", "PRESETS", "REGIONS", "BackpropRecipe", "DoubleDIPRecipe", "ForegroundRecipe",
    "KMeansRecipe", "PriorRecipe", "Recipe", "RegionRecipe", "get_preset",
]


METHODS = ("kmeans", "foreground", "regions", "kmeans-foreground", "backprop", "doubledip")
"""Segmenters of `napari_dsp.pipeline.segment` (see there)."""

FOREGROUND_RULES = ("saliency", "border")
"""How `napari_dsp.kmeans.foreground_background` names the foreground class; the first is the default."""

PRECISIONS = ("float32", "bfloat16")
"""Arithmetic of the networks (the prior's and backprop's ``precision``); the first, the paper's, is the default."""


@dataclass(frozen=True)
class PriorRecipe:
    """Settings of `napari_dsp.prior.deep_segmentation_prior`.

    Attributes
    ----------
    iterations : int
        Adam steps per network.
    restarts : int
        Independent networks whose pixel-wise median is the prior.
    learning_rate : float
        Adam learning rate.
    max_size : int
        Long side of the working resolution the networks are fitted at,
        the prior being interpolated back to full size; 0 is the full
        resolution.
    average_last : int
        Each network's output is the mean of its outputs at the last this
        many iterations; 1 keeps the last alone, as the paper.
    """

    iterations: int
    restarts: int
    learning_rate: float = 0.01
    max_size: int = 0
    average_last: int = 1


@dataclass(frozen=True)
class KMeansRecipe:
    """Settings of `napari_dsp.kmeans.kmeans_segmentation`.

    Attributes
    ----------
    n_clusters : int
        Number of classes.
    window : int
        Odd side of the pixel window the features are taken from.
    max_samples : int
        Pixels KMeans is fitted on.
    n_init : int
        KMeans initialisations.
    """

    n_clusters: int = 2
    window: int = 7
    max_samples: int = 65536
    n_init: int = 3


@dataclass(frozen=True)
class BackpropRecipe:
    """Settings of `napari_dsp.backprop.backprop_segmentation` (see its parameters)."""

    n_segments: int = 1000
    compactness: float = 10.0
    n_features: int = 100
    n_conv: int = 2
    learning_rate: float = 0.1
    max_iterations: int = 1000
    min_labels: int = 3
    warmup: int = 100
    cosine_annealing: bool = True
    continuity: float = 0.0
    scale: float = 1.0
    precision: str = PRECISIONS[0]


@dataclass(frozen=True)
class Recipe:
    """A named set of settings for the whole pipeline.

    Attributes
    ----------
    name : str
        The preset's name, as given to ``--preset`` and the widgets.
    description : str
        One line for help texts and tooltips.
    foreground_prior : PriorRecipe
        The prior for foreground/background and KMeans segmentation.
    multiclass_prior : PriorRecipe
        The prior for multi-class segmentation (backprop).
    kmeans : KMeansRecipe
    backprop : BackpropRecipe
    """

    name: str
    description: str
    foreground_prior: PriorRecipe
    multiclass_prior: PriorRecipe
    kmeans: KMeansRecipe = field(default_factory=KMeansRecipe)
    backprop: BackpropRecipe = field(default_factory=BackpropRecipe)


PAPER = Recipe(
    name="paper",
    description="the paper's exact settings (prior 50 x 11 for KMeans, 100 x 10 for backprop)",
    foreground_prior=PriorRecipe(iterations=50, restarts=11),
    multiclass_prior=PriorRecipe(iterations=100, restarts=10),
)
"""The settings of the DSP paper and of the authors' code (SPEC sections 1-3)."""


@dataclass(frozen=True)
class ForegroundRecipe:
    """Settings of `napari_dsp.foreground.foreground_segmentation` (see its parameters).

    Chosen on the 200 ECSSD development images, one setting for the whole
    set (docs/results.md).
    """

    n_segments: int = 300
    compactness: float = 10.0
    color_sigma: float = 10.0
    boundary_sigma: float = 1.0
    spatial_sigma: float = 0.25
    # A centre prior: +0.021 IoU for `segment --method foreground` on the 200 ECSSD dev images (docs/results.md 6.8).
    center_sigma: float = 0.3
    optimize: bool = True
    graph_cut: bool = True
    smoothness: float = 5.0
    iterations: int = 2
    refine: bool = True


@dataclass(frozen=True)
class RegionRecipe:
    """Settings of `napari_dsp.regions.region_segmentation` (see its parameters).

    Chosen on the 100 BSDS500 validation images, one setting for the whole
    set (DFC-protocol mIoU and segmentation covering; docs/results.md).
    """

    superpixels: str = "felzenszwalb"
    scale: float = 1.0
    n_segments: int = 1000
    compactness: float = 10.0
    linkage: str = "adaptive"
    threshold: float = 20.0
    boundary_weight: float = 0.0
    min_size: float = 0.002
    lightness_weight: float = 0.5


FOREGROUND = ForegroundRecipe()
"""The object-level foreground's settings."""

REGIONS = RegionRecipe()
"""The region method's settings."""


@dataclass(frozen=True)
class DoubleDIPRecipe:
    """Settings of `napari_dsp.doubledip.double_dip_segmentation` (see its parameters)."""

    max_size: int = 128
    hint_iterations: int = 300
    iterations: int = 600
    learning_rate: float = 0.001
    stop_psnr: float = 30.0


DOUBLE_DIP = DoubleDIPRecipe()
"""Double-DIP at a reduced working size and iteration count: the baseline as the benchmark runs it."""

DOUBLE_DIP_REFERENCE = DoubleDIPRecipe(max_size=0, hint_iterations=2000, iterations=4000)
"""Double-DIP as the authors run it (full size, 2000 + 4000 iterations; SPEC section 4)."""

LOW_PASS_KEEP = 0.1
"""Fraction of FFT coefficients per axis that the paper's low-pass baseline keeps (section 3.3)."""

FAST = Recipe(
    name="fast",
    description="for interactive use: the prior from 2 networks at a long side of 256 px (320 px for backprop "
                "and regions), each the mean of its last iterations",
    foreground_prior=PriorRecipe(iterations=80, restarts=2, max_size=256, average_last=10),
    # Twice the steps at a larger size, as the paper fits its multi-class prior twice as long: within 0.01 of
    # the paper's on 40 BSDS500 images, where the foreground prior's settings fall 0.016 behind at k = 6.
    multiclass_prior=PriorRecipe(iterations=160, restarts=2, max_size=320, average_last=20),
    # Half size rather than a quarter: +0.024 DFC mIoU on 50 BSDS500 images (docs/backprop-ablation.md).
    backprop=BackpropRecipe(scale=0.5, n_features=32, max_iterations=200),
)
"""Settings for interactive use, chosen from measured curves (docs/results.md, docs/backprop-ablation.md)."""

PRESETS = {recipe.name: recipe for recipe in (PAPER, FAST)}
"""Every preset by name."""


def get_preset(name: str) -> Recipe:
    """The preset called `name`.

    Raises
    ------
    ValueError
        If there is no such preset.
    """
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"preset={name!r} is unknown; choose one of {', '.join(map(repr, PRESETS))}") from None
