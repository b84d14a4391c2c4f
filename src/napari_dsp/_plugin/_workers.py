"""Worker plumbing: run a task in a napari thread worker with progress, previews and cancel.

A task is a function ``task(job)`` running on the worker thread. It passes
``job.callback`` to the algorithms (which relays `Progress` and throttled
previews to the GUI thread and turns Cancel into `Cancelled`) and hands
finished planes to ``job.emit``.
"""

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from qtpy.QtCore import QObject, Signal

from ..progress import Cancelled, Progress

PREVIEW_INTERVAL = 0.3
"""Seconds between two live previews: every few iterations, without flooding the GUI."""

PROGRESS_INTERVAL = 0.1
"""Seconds between two progress reports: repainting the bar on every iteration stalls the GUI."""


@dataclass(frozen=True)
class Update:
    """A message from a running task to the GUI thread.

    Attributes
    ----------
    kind : str
        The output the plane belongs to (``"prior"``, ``"kmeans"``, ...).
    index : tuple
        Index of the plane in the image's leading axes.
    plane : ndarray or None
        New data for that plane (a preview or the final result).
    progress : Progress or None
        Algorithm progress, when the update comes from its callback.
    slice_number, n_slices : int
        Which of the run's planes this is (1-based) and how many there are.
    message : str
        A line for the widget's note (kept after the run).
    status : str
        A line for the widget's status (replaced by the next one).
    warning : str
        Something the user should know, shown as a napari warning.
    """

    kind: str
    index: tuple
    plane: Optional[np.ndarray]
    progress: Optional[Progress]
    slice_number: int
    n_slices: int
    message: str = ""
    status: str = ""
    warning: str = ""


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from the worker are queued to it."""

    update = Signal(object)


class Job:
    """State shared between the GUI thread and one running task.

    Attributes
    ----------
    kind, index, slice_number, n_slices
        Where the task is; set by the task before each algorithm call so
        progress and previews are attributed to the right output plane.
    stages : dict
        Output kind for the previews of a `Progress` stage, where one call
        runs several stages (the pipeline: ``{"prior": "prior", ...}``).
    """

    def __init__(self, n_slices: int, stages: Optional[dict] = None):
        self.n_slices = n_slices
        self.stages = stages or {}
        self.kind = ""
        self.index = ()
        self.slice_number = 0
        self._cancel = threading.Event()
        self.worker = None
        self._last_preview = -np.inf
        self._last_progress = -np.inf
        self._last_stage = None
        self.relay = _Relay()

    def cancel(self) -> None:
        """Ask the task to stop at its next iteration."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        # napari quits workers on exit and from its activity panel: treat that as Cancel too
        return self._cancel.is_set() or (self.worker is not None and self.worker.abort_requested)

    def at(self, kind: str, index: tuple, slice_number: int) -> None:
        """Point progress and previews at output `kind`, plane `index`; stop here if cancelled."""
        if self.cancelled:
            raise Cancelled(f"cancelled before slice {slice_number}")
        self.kind, self.index, self.slice_number = kind, index, slice_number
        self._last_preview = self._last_progress = -np.inf

    def emit(self, plane: Optional[np.ndarray], *, kind: Optional[str] = None, **lines: str) -> None:
        """Send a plane of output `kind` (default: the current one) and/or `Update` lines to the GUI thread."""
        self.relay.update.emit(
            Update(kind or self.kind, self.index, plane, None, self.slice_number, self.n_slices, **lines)
        )

    def callback(self, progress: Progress) -> bool:
        """The algorithms' callback: relay progress and a preview now and then, stop on cancel."""
        if self.cancelled:
            return False
        now = time.monotonic()
        preview = None
        if now - self._last_preview >= PREVIEW_INTERVAL and progress.has_preview:
            preview = progress.preview()
            self._last_preview = now
        new_stage = progress.stage != self._last_stage
        if preview is not None or new_stage or progress.step >= progress.total or (
            now - self._last_progress >= PROGRESS_INTERVAL
        ):
            self._last_progress, self._last_stage = now, progress.stage
            kind = self.stages.get(progress.stage, self.kind)
            self.relay.update.emit(Update(kind, self.index, preview, progress, self.slice_number, self.n_slices))
        return not self.cancelled


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``status`` is "done", "cancelled" or "error" (with ``message``)."""

    status: str
    message: str = ""


def start(
    task: Callable[[Job], None],
    job: Job,
    *,
    on_update: Callable[[Update], None],
    on_outcome: Callable[[Outcome], None],
    on_finished: Callable[[], None],
):
    """Run ``task(job)`` in a napari thread worker and return the started worker.

    User errors (`ValueError`, `MemoryError`) and cancellation come back as an
    `Outcome`; any other exception is a bug and reaches napari's error
    notification with its traceback.
    """
    from napari.qt.threading import create_worker

    def run():
        try:
            task(job)
            return Outcome("done")
        except Cancelled:
            return Outcome("cancelled")
        except (ValueError, MemoryError) as exc:
            return Outcome("error", message=str(exc) or type(exc).__name__)

    job.relay.update.connect(on_update)
    worker = create_worker(run, _start_thread=False)
    job.worker = worker
    worker.returned.connect(on_outcome)
    worker.finished.connect(on_finished)
    worker.start()
    return worker
