"""Mean +- std over seeds (``cissod.analysis.seed_stats``).

References: ``statistics.mean`` / ``statistics.stdev`` (sample standard
deviation) and tables built from small fake metrics dicts whose cells are
computed by hand.
"""
import math
import statistics
from typing import Dict, List

import pytest

from cissod.analysis.seed_stats import RunResult, format_seed_tables, mean_std

CLASSES = ('car', 'bird')


def metrics(ap: float, maj: float, mino: float, car: float,
            bird: float) -> Dict[str, float]:
    """A fake metrics dict as ``tools/test.py`` writes it."""
    return {
        'coco/bbox_mAP': ap,
        'coco/bbox_majority_mAP': maj,
        'coco/bbox_minority_mAP': mino,
        'coco/bbox_AP_car': car,
        'coco/bbox_AP_bird': bird,
        'coco/bbox_mAP_50': 0.9,  # not a class AP: ignored by the tables
    }


def quality(num_maj: int, prec_maj: float, rec_maj: float, num_min: int,
            prec_min: float, rec_min: float, bird_num: int,
            bird_prec: float) -> dict:
    """The shape of ``pseudo_label_quality.run``'s result."""
    return {
        'groups': {
            'majority': {'num_pseudo': num_maj, 'precision': prec_maj,
                         'recall': rec_maj},
            'minority': {'num_pseudo': num_min, 'precision': prec_min,
                         'recall': rec_min},
        },
        'per_class': [
            {'class': 'car', 'group': 'majority', 'num_pseudo': num_maj,
             'precision': prec_maj},
            {'class': 'bird', 'group': 'minority', 'num_pseudo': bird_num,
             'precision': bird_prec},
        ],
    }


def rows(table: str) -> List[List[str]]:
    """Cells of every markdown table row (header and separators too)."""
    return [[c.strip() for c in line.strip('|').split('|')]
            for line in table.splitlines() if line.startswith('|')]


def row(table: str, *first: str) -> List[str]:
    """The one row whose first cells are ``first``."""
    found = [r for r in rows(table) if tuple(r[:len(first)]) == first]
    assert len(found) == 1, (first, table)
    return found[0]


# --------------------------------------------------------------------------
# mean_std


@pytest.mark.parametrize('values', [
    [0.58, 0.60, 0.62],
    [1.0, 2.0],
    [3.5, -1.25, 7.0, 0.0, 2.0],
    [42.0, 42.0, 42.0],
    [1e-3, 2e-3, 4e-3, 8e-3],
])
def test_mean_std_matches_statistics(values):
    mean, std = mean_std(values)
    assert mean == pytest.approx(statistics.mean(values), rel=1e-12,
                                 abs=1e-15)
    # sample standard deviation (n - 1)
    assert std == pytest.approx(statistics.stdev(values), rel=1e-12,
                                abs=1e-15)


def test_mean_std_random_values():
    import random
    rng = random.Random(0)
    for _ in range(50):
        values = [rng.uniform(-5, 5) for _ in range(rng.randint(2, 9))]
        mean, std = mean_std(values)
        assert mean == pytest.approx(statistics.mean(values), rel=1e-12,
                                     abs=1e-12)
        assert std == pytest.approx(statistics.stdev(values), rel=1e-12,
                                    abs=1e-12)


def test_mean_std_edge_cases():
    assert mean_std([0.7]) == (0.7, 0.0)  # one value: std 0
    assert mean_std((2, 4)) == (3.0, pytest.approx(math.sqrt(2)))  # ints
    mean, std = mean_std([])
    assert math.isnan(mean) and math.isnan(std)
    # 3 values, mean 60, deviations -2, 0, 2: var = 8 / 2 = 4, std = 2
    mean, std = mean_std([58.0, 60.0, 62.0])
    assert mean == 60.0 and std == 2.0


# --------------------------------------------------------------------------
# format_seed_tables


def three_seed_results(with_quality: bool = False) -> List[RunResult]:
    sup = RunResult(
        name='sup',
        metrics=[metrics(0.30, 0.40, 0.20, 0.50, 0.10),
                 metrics(0.32, 0.42, 0.22, 0.52, 0.12),
                 metrics(0.34, 0.44, 0.24, 0.54, 0.14)],
        counts=[None, None, None])
    cissod = RunResult(
        name='cissod',
        metrics=[metrics(0.58, 0.70, 0.45, 0.80, 0.30),
                 metrics(0.60, 0.70, 0.50, 0.80, 0.40),
                 metrics(0.62, 0.70, 0.55, 0.80, 0.50)],
        counts=[[100, 10], [110, 20], [120, 30]],
        quality=[quality(100, 0.80, 0.50, 10, 0.40, 0.20, 10, 0.40),
                 quality(110, 0.82, 0.52, 20, 0.50, 0.30, 20, 0.50),
                 quality(120, 0.84, 0.54, 30, 0.60, 0.40, 30, 0.60)]
        if with_quality else None)
    return [sup, cissod]


def test_seed_table_mean_pm_std():
    text = format_seed_tables(three_seed_results(), seeds=[0, 1, 2])
    assert '3 seed(s) (0, 1, 2)' in text
    assert row(text, 'method') == ['method', 'AP', 'AP maj', 'AP min']
    # AP x100: [58, 60, 62] -> 60.0 +- 2.0; maj [70, 70, 70] -> 70.0 +- 0.0;
    # min [45, 50, 55] -> 50.0 +- 5.0
    assert row(text, 'cissod') == ['cissod', '60.0 +- 2.0', '70.0 +- 0.0',
                                   '50.0 +- 5.0']
    # sup: [30, 32, 34] -> 32.0 +- 2.0, [40, 42, 44], [20, 22, 24]
    assert row(text, 'sup') == ['sup', '32.0 +- 2.0', '42.0 +- 2.0',
                                '22.0 +- 2.0']
    # per-class AP, then pseudo-label counts only for the run with counts
    assert row(text, 'class') == ['class', 'sup AP', 'cissod AP',
                                  'cissod pseudo labels']
    # car: sup [50, 52, 54], cissod [80, 80, 80]; counts [100, 110, 120]:
    #   110 +- 10 (sample std of 100, 110, 120 = 10)
    assert row(text, 'car') == ['car', '52.0 +- 2.0', '80.0 +- 0.0',
                                '110 +- 10']
    # bird: sup [10, 12, 14], cissod [30, 40, 50]; counts [10, 20, 30]
    assert row(text, 'bird') == ['bird', '12.0 +- 2.0', '40.0 +- 10.0',
                                 '20 +- 10']
    # only the class APs become class rows (not coco/bbox_mAP_50)
    assert [r[0] for r in rows(text)].count('car') == 1
    assert not any(r[0] in ('mAP_50', '_50') for r in rows(text))
    # no quality section without quality results
    assert 'precision' not in text
    # both tables have 4 columns (header, separator and every row)
    for r in rows(text):
        assert len(r) == 4, r


def test_seed_table_single_seed_has_no_pm():
    results = [
        RunResult(name='sup', metrics=[metrics(0.3, 0.4, 0.2, 0.5, 0.1)],
                  counts=[None]),
        RunResult(name='cissod', metrics=[metrics(0.6, 0.7, 0.5, 0.8, 0.4)],
                  counts=[[123, 4]]),
    ]
    text = format_seed_tables(results, seeds=[7])
    assert '+-' not in text.replace('mean +- std', '')
    assert '1 seed(s) (7)' in text
    assert row(text, 'cissod') == ['cissod', '60.0', '70.0', '50.0']
    assert row(text, 'sup') == ['sup', '30.0', '40.0', '20.0']
    assert row(text, 'car') == ['car', '50.0', '80.0', '123']
    assert row(text, 'bird') == ['bird', '10.0', '40.0', '4']


def test_seed_table_counts_columns_only_for_runs_with_counts():
    # no run has counts: no pseudo-label columns at all
    results = [RunResult(name=name, metrics=[metrics(0.3, 0.4, 0.2, 0.5,
                                                     0.1)],
                         counts=[None]) for name in ('a', 'b')]
    text = format_seed_tables(results, seeds=[0])
    # (the header must have as many cells as the separator row, or the
    # markdown table does not render)
    assert row(text, 'class') == ['class', 'a AP', 'b AP']
    all_rows = rows(text)
    header = all_rows.index(['class', 'a AP', 'b AP'])
    assert all_rows[header + 1] == ['---', '---:', '---:']
    assert row(text, 'car') == ['car', '50.0', '50.0']
    assert 'pseudo labels |' not in text
    # a run with counts for some seeds only: the mean over those seeds
    partial = RunResult(name='c',
                        metrics=[metrics(0.3, 0.4, 0.2, 0.5, 0.1)] * 2,
                        counts=[None, [8, 2]])
    text = format_seed_tables(results + [partial], seeds=[0, 1])
    assert row(text, 'class') == ['class', 'a AP', 'b AP', 'c AP',
                                  'c pseudo labels']
    assert row(text, 'car') == ['car', '50.0', '50.0', '50.0 +- 0.0', '8']
    assert row(text, 'bird') == ['bird', '10.0', '10.0', '10.0 +- 0.0', '2']


def test_seed_table_missing_and_negative_metrics():
    """COCO writes -1 for an AP it cannot compute: such values (and
    missing keys) are left out; nothing left gives 'n/a'."""
    m0 = metrics(0.5, 0.6, -1.0, 0.7, -1.0)
    m1 = metrics(0.7, 0.6, -1.0, 0.7, -1.0)
    del m1['coco/bbox_majority_mAP']
    text = format_seed_tables(
        [RunResult(name='x', metrics=[m0, m1], counts=[None, None])],
        seeds=[0, 1])
    # AP [50, 70] -> 60.0 +- 14.1 (sqrt(200) = 14.14); maj only seed 0
    assert row(text, 'x') == ['x', '60.0 +- 14.1', '60.0', 'n/a']
    assert row(text, 'bird') == ['bird', 'n/a']


def test_seed_table_quality_section():
    text = format_seed_tables(three_seed_results(with_quality=True),
                              seeds=[0, 1, 2])
    assert row(text, 'method', 'group') == [
        'method', 'group', 'pseudo labels', 'precision', 'recall']
    # majority: num [100, 110, 120] -> 110 +- 10, precision [80, 82, 84]
    #   -> 82.0 +- 2.0, recall [50, 52, 54] -> 52.0 +- 2.0
    assert row(text, 'cissod', 'majority') == [
        'cissod', 'majority', '110 +- 10', '82.0 +- 2.0', '52.0 +- 2.0']
    # minority: num [10, 20, 30] -> 20 +- 10, precision [40, 50, 60]
    #   -> 50.0 +- 10.0, recall [20, 30, 40] -> 30.0 +- 10.0
    assert row(text, 'cissod', 'minority') == [
        'cissod', 'minority', '20 +- 10', '50.0 +- 10.0', '30.0 +- 10.0']
    # per class: the minority classes only
    assert row(text, 'method', 'class') == [
        'method', 'class', 'pseudo labels', 'precision']
    assert row(text, 'cissod', 'bird') == ['cissod', 'bird', '20 +- 10',
                                           '50.0 +- 10.0']
    assert not [r for r in rows(text) if r[:2] == ['cissod', 'car']]
    # the run without quality results has no quality rows
    assert not [r for r in rows(text) if r[0] == 'sup' and len(r) == 5]
    assert not [r for r in rows(text)
                if r[:2] in (['sup', 'majority'], ['sup', 'minority'])]
    # the tables before it are unchanged
    plain = format_seed_tables(three_seed_results(), seeds=[0, 1, 2])
    assert text.startswith(plain)


def test_seed_table_quality_single_seed():
    results = three_seed_results(with_quality=True)
    one = RunResult(name='cissod', metrics=results[1].metrics[:1],
                    counts=results[1].counts[:1],
                    quality=results[1].quality[:1])
    text = format_seed_tables([one], seeds=[0])
    assert row(text, 'cissod', 'majority') == ['cissod', 'majority', '100',
                                               '80.0', '50.0']
    assert row(text, 'cissod', 'bird') == ['cissod', 'bird', '10', '40.0']
    assert '+-' not in text.replace('mean +- std', '')


def test_t_quantile_matches_scipy():
    from scipy import stats

    from cissod.analysis.seed_stats import t_quantile_975
    for df in list(range(1, 40)) + [60, 120, 1000]:
        assert abs(t_quantile_975(df) - stats.t.ppf(0.975, df)) < 1e-3, df


def test_paired_interval_by_hand():
    import statistics

    from cissod.analysis.seed_stats import paired_interval
    diffs = [1.2, 2.0, -5.8]
    mean, lo, hi = paired_interval(diffs)
    half = 4.303 * statistics.stdev(diffs) / 3 ** 0.5
    assert mean == pytest.approx(sum(diffs) / 3)
    assert (lo, hi) == pytest.approx((mean - half, mean + half), abs=1e-3)
    assert math.isnan(paired_interval([1.0])[1])


def test_paired_table_rows():
    from cissod.analysis.seed_stats import RunResult, format_paired_table
    keys = ('coco/bbox_mAP', 'coco/bbox_majority_mAP',
            'coco/bbox_minority_mAP')
    a = RunResult('A', [dict.fromkeys(keys, 0.5), dict.fromkeys(keys, 0.6)],
                  [None, None])
    b = RunResult('B', [dict.fromkeys(keys, 0.4), dict.fromkeys(keys, 0.4)],
                  [None, None])
    table = format_paired_table([a, b], [('A', 'B'), ('A', 'missing')],
                                [0, 1])
    rows = [r for r in table.splitlines() if r.startswith('| A - B')]
    assert len(rows) == 3
    assert '| A - B | AP min | +10.0 / +20.0 | +15.0 |' in table
