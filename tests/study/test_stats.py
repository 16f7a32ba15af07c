"""Statistics over seeds against scipy: the paired t interval is ttest_rel's, wins are counted seed by seed,
and the sentence says what the interval says."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ttest_rel

from landscape.study.stats import paired_difference, summarize, verdict


@pytest.mark.parametrize("seed", range(4))
def test_interval_is_scipys_paired_t_interval(seed):
    rng = np.random.default_rng(seed)
    n = 3 + seed
    b = rng.normal(93.0, 0.3, n)
    m = b + rng.normal(0.1, 0.2, n)
    p = paired_difference(m, b)
    ci = ttest_rel(m, b).confidence_interval(0.95)
    assert p.low == pytest.approx(ci.low, rel=1e-12) and p.high == pytest.approx(ci.high, rel=1e-12)
    assert p.mean == pytest.approx(np.mean(m - b)) and p.n == n and p.wins == int(np.sum(m > b))
    ci90 = ttest_rel(m, b).confidence_interval(0.9)
    assert paired_difference(m, b, level=0.9).low == pytest.approx(ci90.low, rel=1e-12)


def test_lower_is_better_counts_wins_the_other_way():
    p = paired_difference([0.10, 0.20, 0.05], [0.12, 0.18, 0.07], higher_is_better=False)
    assert p.wins == 2


def test_summary_and_sentences():
    s = summarize([92.9, 93.1, 93.0])
    assert s.mean == pytest.approx(93.0) and s.std == pytest.approx(0.1) and s.text() == "93.00 ± 0.10"
    assert math.isnan(summarize([1.0]).std) and summarize([1.0]).text() == "1.00"
    clear = verdict("SWA", "SGD", paired_difference([2.0, 2.1, 1.9], [1.0, 1.0, 1.0]))
    assert clear.startswith("SWA beat SGD in 3 of 3 seeds; mean difference +1.00 points, 95% CI [+0.75, +1.25]")
    assert clear.endswith("a clear gain")
    unclear = verdict("SWA-cyclic", "SGD", paired_difference([93.1, 92.8, 93.4], [93.0, 93.0, 93.0]))
    assert "beat SGD in 2 of 3 seeds" in unclear and unclear.endswith("no clear difference")
    loss = verdict("PSWA", "SGD", paired_difference([0.5, 0.6, 0.55], [0.1, 0.1, 0.1]), unit="",
                   higher_is_better=False)
    assert loss.endswith("a clear loss")
    assert "one seed: no interval" in verdict("A", "B", paired_difference([1.0], [0.0]))
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_table_header_counts_seeds_in_words():
    from landscape.study.table import study_header

    assert study_header({"task": "classification", "seeds": [0]})[1:3] == ["test acc (%), 1 seed", "test loss, 1 seed"]
    assert study_header({"task": "regression", "seeds": [0, 1]})[:2] == ["method", "test loss, 2 seeds"]
