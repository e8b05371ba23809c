"""The statistics of a canary judgement: pure functions of two samples, no I/O.

- ``two_proportions``: a pooled two-proportion z-test, for rates (x events in n sessions).
- ``mann_whitney``: the Mann-Whitney U test (normal approximation, ties corrected, no continuity
  correction), for distributions.
- ``hodges_lehmann``: the median of all canary - baseline differences and its distribution-free
  confidence interval (the one the U test inverts to).
- ``classify_rate`` / ``classify_distribution``: Pass, High, Low or NoData for one metric.

p-values are two-sided. Definitions and worked examples: docs/metrics.md, "Deploy verdict".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

PASS, HIGH, LOW, NODATA = "Pass", "High", "Low", "NoData"

HL_MAX_PER_SIDE = 400
"""Above this many values a side, Hodges-Lehmann runs on this many evenly spaced order
statistics of it (at most 160,000 differences); the U test always uses every value."""


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """The z with P(Z <= z) = p, 0 < p < 1 (bisection on ``normal_sf``, to 1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1, not {p}")
    low, high = -40.0, 40.0
    while high - low > 1e-12:
        mid = (low + high) / 2
        if 1.0 - normal_sf(mid) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@dataclass(frozen=True)
class RateTest:
    canary_rate: float
    baseline_rate: float
    z: float
    p_value: float


def two_proportions(x1: int, n1: int, x2: int, n2: int) -> RateTest:
    """Canary x1/n1 against baseline x2/n2: z = (p1 - p2) / sqrt(p(1-p)(1/n1 + 1/n2)) with the
    pooled p = (x1 + x2) / (n1 + n2); p-value two-sided. Both rates 0 or both 1: z 0, p 1."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one session")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0.0:
        return RateTest(p1, p2, 0.0, 1.0)
    z = (p1 - p2) / spread
    return RateTest(p1, p2, z, min(1.0, 2 * normal_sf(abs(z))))


@dataclass(frozen=True)
class RankTest:
    u: float
    """U of the canary: pairs (canary, baseline) where the canary value is larger, ties half."""
    z: float
    p_value: float


def mann_whitney(canary: Sequence[float], baseline: Sequence[float]) -> RankTest:
    """U = R1 - n1(n1+1)/2 from the canary's rank sum R1 (ties share their mean rank);
    z = (U - n1 n2 / 2) / sigma, sigma^2 = n1 n2 / 12 * (n + 1 - sum(t^3 - t) / (n (n - 1)))
    over tie groups of size t. All values equal: z 0, p 1."""
    n1, n2 = len(canary), len(baseline)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    pooled = sorted([(v, 0) for v in canary] + [(v, 1) for v in baseline])
    n = n1 + n2
    rank_sum, ties, i = 0.0, 0.0, 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    u = rank_sum - n1 * (n1 + 1) / 2
    variance = n1 * n2 / 12 * (n + 1 - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return RankTest(u, 0.0, 1.0)
    z = (u - n1 * n2 / 2) / math.sqrt(variance)
    return RankTest(u, z, min(1.0, 2 * normal_sf(abs(z))))


@dataclass(frozen=True)
class Shift:
    estimate: float
    low: float
    high: float


def hodges_lehmann(canary: Sequence[float], baseline: Sequence[float],
                   confidence: float = 0.95) -> Shift:
    """The median of the n1 n2 differences c - b, and the interval [D(k), D(N-1-k)] of the sorted
    differences (0-based) with k = floor(N/2 - z sqrt(n1 n2 (n1 + n2 + 1) / 12)), z the normal
    quantile of (1 + confidence) / 2, N = n1 n2 (k below 0 is taken as 0). Sides larger than
    ``HL_MAX_PER_SIDE`` are thinned first (see there)."""
    c, b = _thin(sorted(canary)), _thin(sorted(baseline))
    n1, n2 = len(c), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    differences = sorted(x - y for x in c for y in b)
    total = len(differences)
    middle = total // 2
    estimate = differences[middle] if total % 2 else (differences[middle - 1] + differences[middle]) / 2
    z = normal_quantile((1 + confidence) / 2)
    k = max(0, math.floor(total / 2 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)))
    k = min(k, (total - 1) // 2)
    return Shift(estimate, differences[k], differences[total - 1 - k])


def _thin(values: list[float]) -> list[float]:
    n = len(values)
    if n <= HL_MAX_PER_SIDE:
        return values
    return [values[int((i + 0.5) * n / HL_MAX_PER_SIDE)] for i in range(HL_MAX_PER_SIDE)]


def quantile(values: Sequence[float], q: float) -> float | None:
    """The value at 0-based position floor(q n) of the sorted values (the ledger's exact
    quantile, docs/metrics.md); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.floor(q * len(ordered)))]


@dataclass(frozen=True)
class Policy:
    """How strict the judge is; one value, presets below."""

    min_sessions: int = 50
    """Fewer sessions than this on either side (in the whole deploy, or for one metric): NoData."""
    alpha: float = 0.01
    """A difference counts only when its two-sided p-value is below this."""
    rate_tolerance: float = 0.01
    """Rates: the canary must also differ by more than this (absolute, 0.01 = 1 point)."""
    shift_tolerance: float = 0.10
    """Distributions: the Hodges-Lehmann interval must lie wholly beyond this share of the
    baseline's median (0.10 = the canary is surely more than 10% slower, or faster)."""
    pass_score: float = 90.0
    marginal_score: float = 75.0


DEFAULT_POLICY = Policy()


def classify_rate(x1: int, n1: int, x2: int, n2: int, higher_is_bad: bool,
                  policy: Policy = DEFAULT_POLICY) -> tuple[str, dict]:
    """Pass, High, Low or NoData for a rate, and the numbers behind it.

    High (Low) when p < alpha and the canary's rate is above (below) the baseline's by more
    than ``rate_tolerance``; a difference in the harmless direction (lower when higher is bad)
    is a Pass. Fewer than ``min_sessions`` on a side: NoData.
    """
    numbers: dict = {"canary_n": n1, "baseline_n": n2, "canary": None, "baseline": None,
                     "p_value": None}
    if n1 < policy.min_sessions or n2 < policy.min_sessions:
        return NODATA, numbers
    test = two_proportions(x1, n1, x2, n2)
    numbers.update(canary=test.canary_rate, baseline=test.baseline_rate, p_value=test.p_value,
                   effect=test.canary_rate - test.baseline_rate)
    difference = test.canary_rate - test.baseline_rate
    if test.p_value >= policy.alpha or abs(difference) <= policy.rate_tolerance:
        return PASS, numbers
    return _direction(difference > 0, higher_is_bad), numbers


def classify_distribution(canary: Sequence[float], baseline: Sequence[float], higher_is_bad: bool,
                          policy: Policy = DEFAULT_POLICY, q: float = 0.95) -> tuple[str, dict]:
    """Pass, High, Low or NoData for a distribution (one value per session), and the numbers.

    High (Low) when the U test's p < alpha and the whole Hodges-Lehmann interval lies above
    (below) ``shift_tolerance`` times the baseline median (its negative); the harmless
    direction is a Pass. The figures reported are the q-quantiles of each side.
    """
    n1, n2 = len(canary), len(baseline)
    numbers: dict = {"canary_n": n1, "baseline_n": n2, "canary": quantile(canary, q),
                     "baseline": quantile(baseline, q), "p_value": None}
    if n1 < policy.min_sessions or n2 < policy.min_sessions:
        return NODATA, numbers
    test = mann_whitney(canary, baseline)
    shift = hodges_lehmann(canary, baseline, confidence=1 - policy.alpha)
    bound = policy.shift_tolerance * abs(quantile(baseline, 0.5) or 0.0)
    numbers.update(p_value=test.p_value, effect=shift.estimate, effect_low=shift.low,
                   effect_high=shift.high, allowed_shift=bound)
    if test.p_value >= policy.alpha:
        return PASS, numbers
    if shift.low > bound:
        return _direction(True, higher_is_bad), numbers
    if shift.high < -bound:
        return _direction(False, higher_is_bad), numbers
    return PASS, numbers


def _direction(went_up: bool, higher_is_bad: bool) -> str:
    if went_up == higher_is_bad:
        return HIGH if went_up else LOW
    return PASS


def score(results: dict[str, str], critical: frozenset[str]) -> float | None:
    """100 x the share of judged metrics (not NoData) that Pass; 0 when a critical metric does
    not Pass (NoData included); None when no metric could be judged."""
    judged = [r for r in results.values() if r != NODATA]
    if not judged:
        return None
    if any(results.get(name) != PASS for name in critical):
        return 0.0
    return 100.0 * sum(1 for r in judged if r == PASS) / len(judged)


def verdict(value: float | None, policy: Policy = DEFAULT_POLICY) -> str:
    """Pass at or above ``pass_score``, Marginal at or above ``marginal_score``, else Fail;
    NoData when there is no score."""
    if value is None:
        return NODATA
    if value >= policy.pass_score:
        return "Pass"
    if value >= policy.marginal_score:
        return "Marginal"
    return "Fail"
