r"""Paired comparisons over seeds: the mean of per-seed differences, its 95 % t interval and its sign.

Each seed pretrains its own model, so a method is compared with its reference seed by seed: for the
differences :math:`d_1, …, d_n` with mean :math:`\bar d` and sample standard deviation :math:`s`,

.. math:: \bar d \pm t_{(1+\ell)/2,\, n-1} \, \frac{s}{\sqrt n}

at level :math:`\ell` (0.95; :data:`scipy.stats.t`). The difference is *positive* when the whole
interval lies above 0, *negative* when below, else *inconclusive*; one seed gives no interval and is
inconclusive. :func:`summary_interval` gives the same interval from a summary's mean, std and count
of per-seed differences (:func:`divlib.study.evaluation.summarize`).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.stats

LEVEL = 0.95
POSITIVE, NEGATIVE, INCONCLUSIVE = "positive", "negative", "inconclusive"


@dataclass(frozen=True)
class Interval:
    """``mean`` of ``n`` paired differences and its interval ``[low, high]`` (NaN for n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def sign(self) -> str:
        """:data:`POSITIVE`, :data:`NEGATIVE` or :data:`INCONCLUSIVE`."""
        if self.low > 0:
            return POSITIVE
        return NEGATIVE if self.high < 0 else INCONCLUSIVE

    def text(self, scale: float = 1.0, digits: int = 3, *, signed: bool = True) -> str:
        """``+0.012 [+0.004, +0.020]`` (the values times ``scale``, signs shown if ``signed``); the
        mean alone for one seed."""
        form = f"{'+' if signed else ''}.{digits}f"
        mean = f"{scale * self.mean:{form}}"
        if math.isnan(self.low):
            return mean
        return f"{mean} [{scale * self.low:{form}}, {scale * self.high:{form}}]"


def paired_interval(differences: Sequence[float], level: float = LEVEL) -> Interval:
    """The :class:`Interval` of the per-seed ``differences`` (at least one)."""
    n = len(differences)
    if n == 0:
        raise ValueError("paired_interval needs at least one difference")
    mean = math.fsum(differences) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    std = math.sqrt(math.fsum((d - mean) ** 2 for d in differences) / (n - 1))
    half = scipy.stats.t.ppf((1 + level) / 2, n - 1) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def summary_interval(mean: float, std: float | None, n: int, level: float = LEVEL) -> Interval:
    """The :class:`Interval` of ``n`` per-seed differences of mean ``mean`` and sample std ``std``
    (None or NaN for one seed): the interval :func:`paired_interval` gives for those differences."""
    if n < 1:
        raise ValueError(f"summary_interval needs at least one difference; got n = {n}")
    if n == 1 or std is None or math.isnan(std):
        return Interval(mean, math.nan, math.nan, n)
    half = scipy.stats.t.ppf((1 + level) / 2, n - 1) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)
