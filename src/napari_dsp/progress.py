"""The callback protocol shared by the long-running algorithms."""

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

__all__ = ["Cancelled", "Progress", "report"]


class Cancelled(Exception):
    """Raised when a progress callback asks a running algorithm to stop.

    A callback may raise it itself or return ``False``; either way the
    algorithm stops at the end of the current iteration, frees what it
    allocated and re-raises ``Cancelled`` to its caller.
    """


@dataclass(frozen=True)
class Progress:
    """One step of a long-running algorithm, as passed to its ``callback``.

    Attributes
    ----------
    step : int
        Iterations done so far, from 1 to `total`.
    total : int
        Iterations planned (an upper bound where the algorithm may stop early).
    loss : float
        Training loss of the last iteration.
    stage : str
        What is running, e.g. ``"prior"`` or ``"backprop"``.
    """

    step: int
    total: int
    loss: float
    stage: str = ""
    _preview: Optional[Callable[[], np.ndarray]] = field(
        default=None, repr=False, compare=False
    )

    @property
    def has_preview(self) -> bool:
        """Whether `preview` can be called for this step."""
        return self._preview is not None

    def preview(self) -> np.ndarray:
        """Return the current result, computed only when asked for.

        For the prior this is the pixel-wise median of the restarts so far in
        the input's shape and intensity scale; for a segmenter, the current
        labels.
        """
        if self._preview is None:
            raise RuntimeError(f"{self.stage or 'this step'} has no preview")
        return self._preview()


def report(callback, progress: Progress) -> None:
    """Send `progress` to `callback` and raise `Cancelled` if it returns ``False``."""
    if callback is not None and callback(progress) is False:
        raise Cancelled(f"{progress.stage or 'run'} cancelled at step {progress.step}")
