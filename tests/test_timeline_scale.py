"""The timeline's folded axis: every task wide enough, idle stretches folded, time in order."""

from __future__ import annotations

import itertools

from hypothesis import example, given
from hypothesis import strategies as st

from wflogging.cli.timeline_scale import FOLD_PX, MIN_TASK_PX, PLOT_PX, build_scale, fold_threshold

tasks_strategy = st.lists(
    st.tuples(st.floats(0, 10_000, allow_nan=False), st.floats(0, 3_000, allow_nan=False)).map(
        lambda pair: (pair[0], pair[0] + pair[1])
    ),
    min_size=1,
    max_size=60,
)


@given(tasks_strategy)
# All the unfolded time a subnormal number of seconds: pixels per second were infinite.
@example([(31.0, 31.0), (5e-324, 5e-324)])
@example([(0.0, 5e-324), (31.0, 31.0)])
def test_every_task_is_wide_enough_and_time_never_goes_back(tasks: list[tuple[float, float]]) -> None:
    span = max(1.0, *(end for _, end in tasks))
    scale = build_scale(tasks, span)
    assert scale.width >= PLOT_PX or scale.width == scale.pixels[-1]
    assert list(scale.pixels) == sorted(scale.pixels)
    for start, end in tasks:
        if end > start:
            assert scale.x(end) - scale.x(start) >= MIN_TASK_PX - 0.02  # rounding to 0.01 px
    busy = sum(
        t1 - t0 for t0, t1 in itertools.pairwise(scale.times) if any(s <= t0 and e >= t1 for s, e in tasks)
    )
    for fold in scale.folds:
        assert fold.end - fold.start > fold_threshold(busy)
        assert abs(fold.right - fold.left - FOLD_PX) < 0.01
        assert not any(start < fold.end and end > fold.start for start, end in tasks)  # nothing runs there


def test_a_long_wait_is_folded_and_short_tasks_keep_their_proportions() -> None:
    scale = build_scale([(0, 10), (10, 20), (1220, 1240)], 1240)
    [fold] = scale.folds
    assert (fold.start, fold.end) == (20, 1220)
    first, second = scale.x(10) - scale.x(0), scale.x(20) - scale.x(10)
    third = scale.x(1240) - scale.x(1220)
    assert abs(first - second) < 0.02
    assert third > first  # twice as long
    assert abs(scale.width - PLOT_PX) < 0.02
