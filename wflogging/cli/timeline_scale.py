"""The timeline's time axis: long idle stretches folded, every task wide enough to read.

A linear axis lets one long stretch with no task running (a 20-minute wait for
the Director, a night between two parts of a run) set the scale, and squeezes
every task into a sliver. This axis is piecewise linear instead:

- the run's time is cut at every task's start and end into *elementary
  stretches*; a stretch during which some task runs gets ``MIN_TASK_PX`` pixels
  plus its share of the rest, in proportion to its duration, so every task is
  at least ``MIN_TASK_PX`` wide;
- a stretch with no task running that is longer than :func:`fold_threshold`
  is *folded*: drawn ``FOLD_PX`` wide whatever its length, and labelled with
  the time it hides;
- shorter idle stretches keep their proportional width.

The plot is ``width`` pixels wide: ``PLOT_PX`` (which fits a 1400 px window
beside the agent names), or wider when the run has too many tasks for that.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

import attrs

__all__ = ["FOLD_PX", "MIN_TASK_PX", "PLOT_PX", "Fold", "Scale", "build_scale", "fold_threshold"]

#: The plot's width when the run fits (1400 px window: 20 px margins, 190 px of agent names).
PLOT_PX = 1160
#: The least width of a stretch where a task runs: every task bar is at least this wide.
MIN_TASK_PX = 28
#: The width of a folded idle stretch.
FOLD_PX = 96
#: Room for proportional time when the fixed widths alone fill the plot.
_SPARE_PX = 400


def fold_threshold(busy_seconds: float) -> float:
    """Idle stretches longer than this are folded: 30 s, or a quarter of the time tasks ran."""
    return max(30.0, busy_seconds / 4)


@attrs.frozen
class Fold:
    """A folded idle stretch: its time (seconds from the run's start) and place (pixels)."""

    start: float
    end: float
    left: float
    right: float


@attrs.frozen
class Scale:
    """Maps seconds from the run's start to pixels on the plot."""

    #: Sorted times (seconds) and the pixel each maps to; linear in between.
    times: tuple[float, ...]
    pixels: tuple[float, ...]
    folds: tuple[Fold, ...]
    width: float

    def x(self, seconds: float) -> float:
        """The pixel of a moment (clamped to the run)."""
        times, pixels = self.times, self.pixels
        if seconds <= times[0]:
            return pixels[0]
        if seconds >= times[-1]:
            return pixels[-1]
        index = bisect.bisect_right(times, seconds) - 1
        t0, t1 = times[index], times[index + 1]
        if t1 == t0:
            return pixels[index + 1]
        return pixels[index] + (seconds - t0) / (t1 - t0) * (pixels[index + 1] - pixels[index])


def build_scale(tasks: Sequence[tuple[float, float]], span: float) -> Scale:
    """The axis for tasks given as (start, end) seconds from the run's start, over ``[0, span]``."""
    bounds = sorted({0.0, span, *(t for task in tasks for t in task)})
    stretches = list(itertools.pairwise(bounds))
    busy = [any(start <= t0 and end >= t1 for start, end in tasks) for t0, t1 in stretches]
    threshold = fold_threshold(sum(t1 - t0 for (t0, t1), on in zip(stretches, busy, strict=True) if on))
    folded = [not on and t1 - t0 > threshold for (t0, t1), on in zip(stretches, busy, strict=True)]
    fixed = MIN_TASK_PX * sum(busy) + FOLD_PX * sum(folded)
    proportional = sum(t1 - t0 for (t0, t1), fold in zip(stretches, folded, strict=True) if not fold)
    width = float(max(PLOT_PX, fixed + _SPARE_PX))
    spare = width - fixed  # shared by the unfolded stretches in proportion to their durations
    pixels = [0.0]
    folds: list[Fold] = []
    for (t0, t1), on, fold in zip(stretches, busy, folded, strict=True):
        left = pixels[-1]
        if fold:
            right = left + FOLD_PX
            folds.append(Fold(t0, t1, left, right))
        else:
            # The share first, then the pixels: pixels per second overflow to infinity when all the
            # unfolded time is a few subnormal seconds (a share is at most 1).
            share = (t1 - t0) / proportional if proportional > 0 else 0.0
            right = left + share * spare + (MIN_TASK_PX if on else 0)
        pixels.append(right)
    return Scale(
        tuple(bounds), tuple(round(p, 2) for p in pixels), tuple(folds), max(round(pixels[-1], 2), 1.0)
    )
