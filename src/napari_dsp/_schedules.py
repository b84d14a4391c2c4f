"""Learning-rate schedules and the stopping rule of the backpropagation segmenter.

Kept apart from the training loop so that each can be checked against the
numbers in the DSP paper (section 5.2) on its own.
"""

import math

__all__ = ["StopRule", "cosine_restart_lr", "warmup_lr"]


def warmup_lr(step: int, learning_rate: float, warmup: int) -> float:
    """Learning rate of warm-up step `step` (1-based) out of `warmup`.

    Rises linearly from ``learning_rate / warmup`` at step 1 to
    `learning_rate` at step `warmup` (lr/100 to lr for the paper's 100 steps).

    Examples
    --------
    >>> warmup_lr(1, 0.1, 100), warmup_lr(100, 0.1, 100)
    (0.001, 0.1)
    """
    return learning_rate * step / warmup


def cosine_restart_lr(iteration: int, learning_rate: float, first_period: int = 2, factor: int = 2) -> float:
    """Learning rate of main-loop iteration `iteration` (0-based) under SGDR.

    Cosine annealing from `learning_rate` towards 0 over a period of
    `first_period` iterations, restarting at `learning_rate` when a period
    ends, each period `factor` times longer than the last (Loshchilov and
    Hutter 2017). With the paper's T0 = 2 and doubling, restarts fall on
    iterations 0, 2, 6, 14, 30, 62, ...

    Examples
    --------
    >>> [round(cosine_restart_lr(i, 1.0), 3) for i in range(7)]
    [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]
    """
    start, period = 0, first_period
    while iteration >= start + period:
        start += period
        period *= factor
    return learning_rate * 0.5 * (1.0 + math.cos(math.pi * (iteration - start) / period))


class StopRule:
    """When the self-training has found few enough labels, stop after a stabilisation phase.

    The first time the number of distinct labels is at most `min_labels`,
    training goes on for `patience` more iterations and then stops; it stops
    sooner, right after an iteration that leaves fewer than `min_labels`
    labels, because a further collapse would only lose segments (this follows
    the DSP authors' code).

    Parameters
    ----------
    min_labels : int
        Number of labels that starts the stabilisation phase.
    patience : int, optional
        Iterations trained after that.

    Examples
    --------
    >>> rule = StopRule(3, patience=2)
    >>> [rule.update(n) for n in (5, 3, 4, 3)]
    [False, False, False, True]
    """

    def __init__(self, min_labels: int, patience: int = 50):
        self.min_labels = min_labels
        self.patience = patience
        self.remaining = None

    def update(self, n_labels: int) -> bool:
        """Record the label count of the iteration just trained; True means stop now."""
        if self.remaining is None:
            if n_labels <= self.min_labels:
                self.remaining = self.patience
            return self.remaining == 0
        if n_labels < self.min_labels:
            return True
        self.remaining -= 1
        return self.remaining <= 0
