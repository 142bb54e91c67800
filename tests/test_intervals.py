"""Paired intervals over seeds against hand-worked t intervals."""

import math

import pytest

from divlib.study.intervals import (
    INCONCLUSIVE,
    NEGATIVE,
    POSITIVE,
    paired_interval,
    summary_interval,
)


def test_the_interval_of_three_seeds_is_the_hand_worked_t_interval():
    # d = 1, 2, 3: mean 2, s = 1, t_{0.975, 2} = 4.302653, half-width 4.302653 / √3 = 2.484138
    interval = paired_interval([1.0, 2.0, 3.0])
    assert interval.mean == 2.0 and interval.n == 3
    assert interval.low == pytest.approx(2 - 2.484138, abs=1e-6)
    assert interval.high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert interval.sign == INCONCLUSIVE


def test_the_sign_is_decided_only_by_an_interval_clear_of_zero():
    assert paired_interval([0.10, 0.11, 0.12]).sign == POSITIVE
    assert paired_interval([-0.10, -0.11, -0.12]).sign == NEGATIVE
    assert paired_interval([0.2, -0.1, 0.3]).sign == INCONCLUSIVE
    assert paired_interval([0.5, 0.5]).sign == POSITIVE  # no spread: the interval is the mean
    one = paired_interval([0.4])
    assert one.sign == INCONCLUSIVE and math.isnan(one.low) and one.text() == "+0.400"


def test_text_scales_to_points():
    assert paired_interval([0.01, 0.01]).text(scale=100, digits=1) == "+1.0 [+1.0, +1.0]"
    assert paired_interval([0.5, 0.7]).text(digits=2, signed=False).startswith("0.60 [-0.67, 1.87")
    with pytest.raises(ValueError):
        paired_interval([])


def test_a_summary_gives_the_interval_of_its_differences():
    # d = 1, 2, 3 summarised as mean 2, std 1 over 3 seeds: the hand-worked interval above
    interval = summary_interval(2.0, 1.0, 3)
    assert (interval.low, interval.high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert interval == paired_interval([1.0, 2.0, 3.0])
    one = summary_interval(0.4, None, 1)
    assert one.sign == INCONCLUSIVE and math.isnan(one.high) and one.n == 1
    with pytest.raises(ValueError, match="n = 0"):
        summary_interval(0.0, 0.0, 0)
