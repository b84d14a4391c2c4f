"""Sample photographs that ship inside scikit-image's wheel (no download)."""

import numpy as np

__all__ = ["SAMPLES", "load_sample"]

SAMPLES = {
    "coffee": "Coffee cup (400 x 600 RGB)",
    "chelsea": "Chelsea the cat (300 x 451 RGB)",
    "astronaut": "Astronaut Eileen Collins (512 x 512 RGB)",
}
"""Names of the bundled samples, mapped to a one-line description."""


def load_sample(name: str) -> np.ndarray:
    """Load a bundled sample photograph.

    The photographs are files inside the scikit-image package; loading them
    never touches the network.

    Parameters
    ----------
    name : str
        One of the keys of `SAMPLES`: ``"coffee"``, ``"chelsea"`` or
        ``"astronaut"``.

    Returns
    -------
    image : (M, N, 3) ndarray of uint8
        The RGB photograph (channel axis last).

    Raises
    ------
    ValueError
        If `name` is not a known sample.

    Examples
    --------
    >>> load_sample("coffee").shape
    (400, 600, 3)
    """
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    from skimage import data

    return getattr(data, name)()
