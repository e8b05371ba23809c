"""The judge's statistics on samples small enough to work by hand."""
from __future__ import annotations

import math

import pytest

from analytics.judge import (
    HIGH, LOW, NODATA, PASS, Policy, classify_distribution, classify_rate, hodges_lehmann,
    mann_whitney, normal_quantile, quantile, score, two_proportions, verdict,
)


def test_two_proportions_pools_the_rates():
    """10/100 against 5/100: pooled p = 15/200 = 0.075,
    spread = sqrt(0.075 * 0.925 * (1/100 + 1/100)) = sqrt(0.0013875) = 0.0372492,
    z = (0.10 - 0.05) / 0.0372492 = 1.34231, two-sided p = 2 * (1 - Phi(1.34231)) = 0.1795."""
    test = two_proportions(10, 100, 5, 100)

    assert (test.canary_rate, test.baseline_rate) == (0.10, 0.05)
    assert test.z == pytest.approx(1.34231, abs=1e-5)
    assert test.p_value == pytest.approx(0.1795, abs=1e-4)


def test_two_proportions_of_identical_certainties_is_no_difference():
    assert two_proportions(0, 60, 0, 80).p_value == 1.0
    assert two_proportions(60, 60, 80, 80).z == 0.0


def test_mann_whitney_ranks_ties_at_their_mean():
    """Canary 3, 4, 5 against baseline 1, 2, 3. Pooled and ranked: 1 (b) 1, 2 (b) 2, 3 and 3
    share 3.5, 4 (c) 5, 5 (c) 6. R1 = 3.5 + 5 + 6 = 14.5, U = 14.5 - 3*4/2 = 8.5 (pairs with the
    canary larger: 2 + 3 + 3, plus a half for the tie). Mean n1 n2 / 2 = 4.5; one tie group of 2:
    sigma^2 = 9/12 * (7 - 6/30) = 5.1; z = 4 / sqrt(5.1) = 1.77123; p = 0.0765."""
    test = mann_whitney([3, 4, 5], [1, 2, 3])

    assert test.u == 8.5
    assert test.z == pytest.approx(4 / math.sqrt(5.1))
    assert test.p_value == pytest.approx(0.07652, abs=1e-4)


def test_mann_whitney_of_equal_values_is_no_difference():
    assert mann_whitney([7, 7], [7, 7, 7]).p_value == 1.0


def test_hodges_lehmann_is_the_median_difference_with_its_interval():
    """Differences c - b for c in 3, 4, 5 and b in 1, 2, 3: 2 1 0 3 2 1 4 3 2, sorted
    0 1 1 2 2 2 3 3 4; the median (5th of 9) is 2. At 95%: k = floor(9/2 - 1.95996 *
    sqrt(3*3*7/12)) = floor(4.5 - 4.4908) = 0, so the interval is [D(0), D(8)] = [0, 4]."""
    shift = hodges_lehmann([3, 4, 5], [1, 2, 3])

    assert (shift.estimate, shift.low, shift.high) == (2, 0, 4)


def test_normal_quantile_inverts_the_distribution():
    assert normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert normal_quantile(0.5) == pytest.approx(0.0, abs=1e-9)


def test_quantile_takes_the_value_at_floor_q_n():
    # n = 20: p95 is at position floor(0.95 * 20) = 19, the largest
    assert quantile(list(range(1, 21)), 0.95) == 20
    assert quantile([5, 1, 3], 0.5) == 3  # position floor(1.5) = 1 of 1 3 5
    assert quantile([], 0.95) is None


def test_a_significant_rise_beyond_the_tolerance_is_high():
    """12/60 abnormal (20%) against 2/100 (2%): pooled 14/160 = 0.0875, spread =
    sqrt(0.0875 * 0.9125 * (1/60 + 1/100)) = 0.046143, z = 0.18 / 0.046143 = 3.9009,
    p = 9.6e-5 < 0.01, and 0.18 > 0.01: High."""
    result, numbers = classify_rate(12, 60, 2, 100, higher_is_bad=True)

    assert result == HIGH
    assert numbers["effect"] == pytest.approx(0.18)
    assert numbers["p_value"] == pytest.approx(9.6e-5, rel=0.02)
    # the same fall on a metric where lower is bad
    assert classify_rate(2, 100, 12, 60, higher_is_bad=False)[0] == LOW
    # a fall where higher is bad is an improvement: Pass
    assert classify_rate(2, 100, 12, 60, higher_is_bad=True)[0] == PASS


def test_a_significant_difference_within_the_tolerance_passes():
    # 3% against 1% with 20,000 a side is significant, but within a tolerance of 5 points
    result, _ = classify_rate(600, 20_000, 200, 20_000, True, Policy(rate_tolerance=0.05))
    assert result == PASS


def test_fewer_sessions_than_the_minimum_is_no_data():
    assert classify_rate(40, 49, 0, 1000, True)[0] == NODATA
    assert classify_distribution([1.0] * 49, [2.0] * 60, True)[0] == NODATA


def test_a_distribution_surely_shifted_beyond_the_bound_is_high():
    """Baseline 50..109 ms (60 sessions), canary the same plus 50 ms. Every difference
    c_i - b_j = 50 + i - j is symmetric around 50, so Hodges-Lehmann says 50; the baseline
    median is the value at floor(0.5 * 60) = 30, 80 ms, so the bound is 8 ms, and the
    interval lies far above it (U test p < 1e-10): High, with p95 157 against 107 ms
    (positions floor(0.95 * 60) = 57)."""
    baseline = [50.0 + i for i in range(60)]
    canary = [v + 50 for v in baseline]

    result, numbers = classify_distribution(canary, baseline, higher_is_bad=True)

    assert result == HIGH
    assert numbers["effect"] == 50.0
    assert numbers["allowed_shift"] == 8.0
    assert (numbers["canary"], numbers["baseline"]) == (157.0, 107.0)
    assert numbers["effect_low"] > 8.0


def test_a_small_sure_shift_within_the_bound_passes():
    baseline = [1000.0 + i for i in range(500)]
    canary = [v + 20 for v in baseline]  # surely 20 ms slower, but under 10% of ~1250 ms
    assert classify_distribution(canary, baseline, True)[0] == PASS


def test_score_is_the_share_of_passes_and_zero_when_a_critical_metric_fails():
    results = {"a": PASS, "b": PASS, "c": HIGH, "d": PASS, "e": NODATA}
    # 3 of the 4 judged metrics pass -> 75
    assert score(results, frozenset({"a"})) == 75.0
    assert verdict(75.0) == "Marginal"
    assert score(results, frozenset({"c"})) == 0.0
    assert score({"e": NODATA}, frozenset({"e"})) is None
    assert verdict(None) == "NoData"
    assert verdict(90.0) == "Pass"
    assert verdict(74.9) == "Fail"
    assert verdict(80.0, Policy(pass_score=80.0)) == "Pass"
