"""CrS sampler, labeled RFS factors and the fast-resume train loop."""
import io
import itertools
import math
import os.path as osp
import uuid

import pytest
import torch
from mmengine.dataset import BaseDataset, ClassBalancedDataset, ConcatDataset
from torch import nn
from torch.utils.data import DataLoader, Sampler

from cissod.datasets.samplers import ClassRebalancingMultiSourceSampler
from cissod.datasets.samplers import class_rebalancing_sampler as sampler_mod
from cissod_core.crs import rfs_image_factors

# ---------------------------------------------------------------------------
# fake datasets


class ToyDetDataset(BaseDataset):
    """A BaseDataset over given data infos (width, height, cat_ids)."""

    def __init__(self, infos, **kwargs) -> None:
        self._infos = [dict(info) for info in infos]
        super().__init__(ann_file='', serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(info) for info in self._infos]

    def get_cat_ids(self, idx: int):
        return list(self.get_data_info(idx)['cat_ids'])


def make_infos(num: int, portrait_every: int = 0, cat_ids=None):
    """``num`` infos; every ``portrait_every``-th one is portrait (group 0)."""
    infos = []
    for i in range(num):
        portrait = portrait_every > 0 and i % portrait_every == 0
        infos.append(
            dict(
                width=40 if portrait else 60,
                height=60 if portrait else 40,
                cat_ids=list(cat_ids[i]) if cat_ids else []))
    return infos


def make_concat(num_labeled=12, num_unlabeled=30, portrait_every=3):
    labeled = ToyDetDataset(make_infos(num_labeled, portrait_every))
    unlabeled = ToyDetDataset(make_infos(num_unlabeled, portrait_every))
    return ConcatDataset([labeled, unlabeled])


def make_sampler(dataset=None, seed=7, **kwargs):
    dataset = make_concat() if dataset is None else dataset
    return ClassRebalancingMultiSourceSampler(
        dataset, batch_size=5, source_ratio=[1, 4], seed=seed, **kwargs)


def take_batches(iterator, sampler, num):
    """The next ``num`` batches (lists of indices) of a sampler iterator."""
    bs = sampler.batch_size
    return [list(itertools.islice(iterator, bs)) for _ in range(num)]


def group_of(dataset, index: int) -> int:
    info = dataset.get_data_info(index)
    return 0 if info['width'] < info['height'] else 1


# ---------------------------------------------------------------------------
# RFS factors


def _mmengine_repeat_factors(cat_ids, thr):
    dataset = ToyDetDataset(make_infos(len(cat_ids), cat_ids=cat_ids))
    wrapper = ClassBalancedDataset(dataset, oversample_thr=thr)
    expected = wrapper._get_repeat_factors(dataset, thr)
    counts = torch.bincount(torch.tensor(wrapper.repeat_indices),
                            minlength=len(cat_ids))
    assert counts.tolist() == [math.ceil(f) for f in expected]
    return torch.tensor(expected, dtype=torch.float64)


@pytest.mark.parametrize('thr', [0.0, 0.1, 0.3, 0.9])
def test_rfs_factors_equal_mmengine_class_balanced_dataset(thr):
    cat_ids = [[1], [1, 1, 2], [], [3, 1], [7], [1], [2], [1, 2],
               [11, 11], []]
    ours = rfs_image_factors(cat_ids, thr)
    assert ours.dtype == torch.float64 and ours.shape == (len(cat_ids), )
    assert torch.equal(ours, _mmengine_repeat_factors(cat_ids, thr))


def test_rfs_factors_random_long_tail_bit_exact():
    gen = torch.Generator().manual_seed(0)
    # 300 images, 40 classes with a long-tailed (geometric) frequency
    probs = 0.8**torch.arange(40, dtype=torch.float64)
    cat_ids = []
    for _ in range(300):
        k = int(torch.randint(0, 5, (1, ), generator=gen))
        cat_ids.append(
            torch.multinomial(probs, k, True, generator=gen).tolist()
            if k else [])
    ours = rfs_image_factors(cat_ids, 0.1)
    assert torch.equal(ours, _mmengine_repeat_factors(cat_ids, 0.1))
    assert ours.max() > 1  # rare classes were up-weighted


def test_sampler_labeled_weights_are_rfs_factors():
    cat_ids = [[0], [0], [0, 1], [], [2], [0]]
    labeled = ToyDetDataset(make_infos(6, cat_ids=cat_ids))
    unlabeled = ToyDetDataset(make_infos(8))
    sampler = make_sampler(
        ConcatDataset([labeled, unlabeled]), labeled_rfs_threshold=0.5)
    # by hand: class image frequencies 4/6, 1/6, 1/6 -> r_c = max(1,
    # sqrt(0.5 / f_c)) = 1, sqrt(3), sqrt(3); r(I) = max over its classes
    # (1 for the image without boxes)
    s3 = 3**0.5
    assert sampler.weights(0).tolist() == pytest.approx(
        [1.0, 1.0, s3, 1.0, s3, 1.0])
    assert torch.equal(sampler.weights(1), torch.ones(8, dtype=torch.float64))


# ---------------------------------------------------------------------------
# batches


def test_batches_have_sources_in_order_and_one_group():
    dataset = make_concat()
    sampler = make_sampler(dataset)
    assert sampler.num_per_source == [1, 4]
    labeled_end, total = dataset.cumulative_sizes
    groups = set()
    for batch in take_batches(iter(sampler), sampler, 300):
        assert len(batch) == 5
        assert 0 <= batch[0] < labeled_end
        assert all(labeled_end <= i < total for i in batch[1:])
        batch_groups = {group_of(dataset, i) for i in batch}
        assert len(batch_groups) == 1
        groups |= batch_groups
    assert groups == {0, 1}
    assert len(sampler) == len(dataset)


def test_unlabeled_draw_frequencies_follow_weights():
    # one aspect-ratio group, so unlabeled image j is drawn w.p. w_j / sum(w)
    dataset = make_concat(num_labeled=5, num_unlabeled=20, portrait_every=0)
    sampler = make_sampler(dataset, seed=123, repeat_mode='proportional')
    weights = torch.linspace(0.5, 4.0, 20, dtype=torch.float64)
    weights[3] = 0.0  # never drawn
    sampler.set_source_weights(1, weights, start_batch=0)
    num_batches = 12_500  # 50k unlabeled draws
    counts = torch.zeros(20, dtype=torch.float64)
    for batch in take_batches(iter(sampler), sampler, num_batches):
        for i in batch[1:]:
            counts[i - 5] += 1
    assert counts[3] == 0
    expected = weights / weights.sum() * counts.sum()
    keep = expected > 0
    chi2 = (((counts - expected)**2)[keep] / expected[keep]).sum().item()
    # Pearson chi-square with 19 non-zero cells -> 18 degrees of freedom;
    # 42.31 is its 0.999 quantile: a correct sampler fails this with
    # probability 0.1 % (and the seed is fixed, so the test is
    # deterministic). Wrong proportions fail by far: e.g. uniform draws give
    # chi2 of several thousand with 50k draws.
    assert chi2 < 42.31, chi2


def _chi2(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs / probs.sum() * counts.sum()
    keep = expected > 0
    assert (counts[~keep] == 0).all()
    return (((counts - expected)**2)[keep] / expected[keep]).sum().item()


def test_default_ceil_repeats_draw_like_class_balanced_dataset():
    """The default (the reference's semantics): labeled images are drawn
    as often as in mmengine's ClassBalancedDataset over the same images,
    i.e. in proportion to ceil(r(I)); proportional draws are rejected."""
    cat_ids = [[0], [0], [0, 1], [0], [2], [0], [0, 3], [0], [1], [0]]
    labeled = ToyDetDataset(make_infos(len(cat_ids), cat_ids=cat_ids))
    unlabeled = ToyDetDataset(make_infos(8))
    dataset = ConcatDataset([labeled, unlabeled])
    sampler = make_sampler(dataset, seed=5, labeled_rfs_threshold=0.3)
    assert sampler.repeat_mode == 'ceil'
    factors = rfs_image_factors(cat_ids, 0.3)
    assert ((factors > 1) & (factors < 2)).any()  # where ceil matters
    cbd = ClassBalancedDataset(
        ToyDetDataset(make_infos(len(cat_ids), cat_ids=cat_ids)),
        oversample_thr=0.3)
    cbd_counts = torch.bincount(torch.tensor(cbd.repeat_indices),
                                minlength=len(cat_ids)).double()
    assert cbd_counts.tolist() == torch.ceil(factors).tolist()
    counts = torch.zeros(len(cat_ids), dtype=torch.float64)
    for batch in take_batches(iter(sampler), sampler, 20_000):
        counts[batch[0]] += 1
    # 10 cells -> 9 degrees of freedom, 27.88 is the 0.999 quantile
    assert _chi2(counts, cbd_counts) < 27.88
    assert _chi2(counts, factors) > 200  # proportional draws differ
    proportional = make_sampler(dataset, seed=5, labeled_rfs_threshold=0.3,
                                repeat_mode='proportional')
    counts_p = torch.zeros(len(cat_ids), dtype=torch.float64)
    for batch in take_batches(iter(proportional), proportional, 20_000):
        counts_p[batch[0]] += 1
    assert _chi2(counts_p, factors) < 27.88
    # the stored weights stay the repeat factors in both modes
    assert torch.equal(sampler.weights(0), factors)
    with pytest.raises(ValueError, match='repeat_mode'):
        make_sampler(dataset, repeat_mode='floor')


def test_rank_shares_interleave_into_the_single_stream(monkeypatch):
    dataset = make_concat()

    def build(rank, world_size):
        monkeypatch.setattr(sampler_mod, 'get_dist_info',
                            lambda: (rank, world_size))
        return make_sampler(dataset, seed=11)

    single = take_batches(iter(build(0, 1)), build(0, 1), 40)
    shares = []
    for rank in (0, 1):
        first = take_batches(iter(build(rank, 2)), build(rank, 2), 20)
        again = take_batches(iter(build(rank, 2)), build(rank, 2), 20)
        assert first == again  # deterministic across constructions
        shares.append(first)
    assert shares[0] == single[0::2]
    assert shares[1] == single[1::2]
    assert shares[0] != shares[1]


# ---------------------------------------------------------------------------
# in-place weight updates


def _one_hot(n, j):
    weights = torch.zeros(n, dtype=torch.float64)
    weights[j] = 1.0
    return weights


def test_update_changes_only_batches_from_start_batch():
    dataset = make_concat(portrait_every=0)
    reference = make_sampler(dataset)
    sampler = make_sampler(dataset)
    stream = iter(sampler)
    head = take_batches(stream, sampler, 5)
    assert sampler.num_generated_batches == 5
    sampler.set_source_weights(1, _one_hot(30, 17), start_batch=8)
    rest = take_batches(stream, sampler, 7)  # local batches 5 .. 11
    expected = take_batches(iter(reference), reference, 12)
    assert head + rest[:3] == expected[:8]  # batches < 8 unchanged
    labeled_end = dataset.cumulative_sizes[0]
    for batch in rest[3:]:
        assert batch[1:] == [labeled_end + 17] * 4
    # same uniforms, unchanged labeled weights: same labeled draws
    assert [b[0] for b in rest[3:]] == [b[0] for b in expected[8:]]
    # the weights in force per batch
    assert torch.equal(sampler.weights(1, batch=7), torch.ones(30).double())
    assert torch.equal(sampler.weights(1), _one_hot(30, 17))


def test_update_of_generated_batch_raises():
    sampler = make_sampler()
    stream = iter(sampler)
    take_batches(stream, sampler, 10)
    with pytest.raises(RuntimeError, match='delay'):
        sampler.set_source_weights(1, torch.ones(30), start_batch=9)
    sampler.set_source_weights(1, torch.ones(30), start_batch=10)


def test_updates_closer_than_their_delay_raise():
    sampler = make_sampler()
    take_batches(iter(sampler), sampler, 3)
    sampler.set_source_weights(1, torch.ones(30), start_batch=20)
    with pytest.raises(RuntimeError, match='apart'):
        sampler.set_source_weights(1, torch.ones(30), start_batch=25)


def test_invalid_weights_raise():
    sampler = make_sampler()
    with pytest.raises(ValueError, match='30 images'):
        sampler.set_source_weights(1, torch.ones(29), start_batch=0)
    with pytest.raises(ValueError, match='finite'):
        sampler.set_source_weights(1, -torch.ones(30), start_batch=0)
    with pytest.raises(ValueError, match='all zero'):
        sampler.set_source_weights(1, torch.zeros(30), start_batch=0)


# ---------------------------------------------------------------------------
# fast-forward and resume


def test_state_dict_round_trip_and_fast_forward():
    dataset = make_concat()
    original = make_sampler(dataset, seed=5)
    stream = iter(original)
    take_batches(stream, original, 3)
    original.set_source_weights(1, torch.linspace(1, 3, 30), start_batch=5)
    take_batches(stream, original, 4)  # k = 7 batches generated
    original.set_source_weights(1, _one_hot(30, 2) + 0.5, start_batch=10)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)  # as in a checkpoint
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # plain types only

    resumed = make_sampler(dataset, seed=999)
    resumed.load_state_dict(state)
    resumed.fast_forward(7)
    assert take_batches(iter(resumed), resumed, 8) == take_batches(
        stream, original, 8)
    # the table in force before batch 5 was dropped
    with pytest.raises(RuntimeError, match='dropped'):
        resumed.fast_forward(3)


def test_fast_forward_without_state_matches_stream():
    sampler = make_sampler(seed=3)
    full = take_batches(iter(sampler), sampler, 9)
    sampler.fast_forward(6)
    assert take_batches(iter(sampler), sampler, 3) == full[6:]


def test_load_state_of_other_datasets_raises():
    state = make_sampler(make_concat(num_unlabeled=30)).state_dict()
    other = make_sampler(make_concat(num_unlabeled=31))
    with pytest.raises(ValueError, match='same labeled and unlabeled'):
        other.load_state_dict(state)


# ---------------------------------------------------------------------------
# FastResumeIterBasedTrainLoop


class CountingDataset(torch.utils.data.Dataset):
    """Records every ``__getitem__`` call."""

    def __init__(self, num: int = 64) -> None:
        self.num = num
        self.calls = []

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, idx: int):
        self.calls.append(idx)
        return dict(inputs=torch.tensor([float(idx)]))


class InfiniteSampler(Sampler):
    """Infinite stream ``0, 1, 2, ...`` (mod len), batch by batch."""

    def __init__(self, num: int, batch_size: int) -> None:
        self.num = num
        self.batch_size = batch_size
        self.start = 0

    def __iter__(self):
        index = self.start * self.batch_size
        while True:
            yield index % self.num
            index += 1

    def __len__(self) -> int:
        return self.num


class FastForwardSampler(InfiniteSampler):
    """``InfiniteSampler`` with ``fast_forward``; records its calls."""

    def __init__(self, num: int, batch_size: int) -> None:
        super().__init__(num, batch_size)
        self.fast_forward_calls = []

    def fast_forward(self, batch: int) -> None:
        self.fast_forward_calls.append(batch)
        self.start = batch


def _toy_model():
    from mmengine.model import BaseModel

    class ToyModel(BaseModel):

        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(1, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)
            if mode == 'loss':
                return dict(loss=(out**2).mean())
            return out

    return ToyModel()


def _run(work_dir, dataloader, resume_from=None,
         loop='FastResumeIterBasedTrainLoop'):
    from mmengine.runner import Runner
    runner = Runner(
        model=_toy_model(),
        work_dir=work_dir,
        experiment_name=f'fast_resume_{uuid.uuid4().hex}',
        train_dataloader=dataloader,
        train_cfg=dict(type=loop, max_iters=4, val_interval=100),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        load_from=resume_from,
        resume=resume_from is not None,
        default_scope='mmdet',
        log_level='WARNING')
    runner.train()
    return runner


def _loader(sampler_cls):
    dataset = CountingDataset()
    sampler = sampler_cls(len(dataset), batch_size=2)
    return dataset, sampler, DataLoader(
        dataset, batch_size=2, sampler=sampler, num_workers=0)


def test_fast_resume_loop_skips_reading_trained_batches(tmp_path):
    from cissod.engine.runner import FastResumeIterBasedTrainLoop
    work_dir = str(tmp_path)
    first, _, loader = _loader(FastForwardSampler)
    runner = _run(work_dir, loader)
    assert type(runner.train_loop) is FastResumeIterBasedTrainLoop
    assert runner.iter == 4 and first.calls == list(range(8))

    dataset, sampler, loader = _loader(FastForwardSampler)
    runner = _run(work_dir, loader, osp.join(work_dir, 'iter_2.pth'))
    assert sampler.fast_forward_calls == [2]
    # only the two remaining batches (iterations 2 and 3) were read
    assert dataset.calls == first.calls[4:]
    assert runner.iter == 4


def test_fast_resume_loop_without_fast_forward_is_mmengine_loop(tmp_path):
    """Without ``fast_forward`` the resumed run reads what mmengine's own
    loop reads: every batch again on mmengine 0.10.7, only the remaining
    ones on onedl-mmengine (its ``skip_iter`` advances the sampler)."""
    loop = 'FastResumeIterBasedTrainLoop'
    reads = {}
    for name in ('IterBasedTrainLoop', loop):
        work_dir = str(tmp_path / name)
        _run(work_dir, _loader(InfiniteSampler)[2], loop=name)
        dataset, _, loader = _loader(InfiniteSampler)
        runner = _run(work_dir, loader, osp.join(work_dir, 'iter_2.pth'),
                      loop=name)
        assert runner.iter == 4
        reads[name] = dataset.calls
    assert reads[loop] == reads['IterBasedTrainLoop']
    assert reads[loop][-4:] == list(range(4, 8))


def test_fast_resume_with_crs_sampler_replays_the_same_batches(tmp_path):
    """End to end: our sampler in a real Runner, resumed at iteration 2."""
    work_dir = str(tmp_path)

    def loader():
        concat = make_concat(num_labeled=6, num_unlabeled=10)
        seen = []

        def collate(items):
            seen.append([item['sample_idx'] for item in items])
            return dict(inputs=torch.ones(len(items), 1))

        sampler = ClassRebalancingMultiSourceSampler(
            concat, batch_size=5, source_ratio=[1, 4], seed=42)
        return seen, DataLoader(
            concat, batch_size=5, sampler=sampler, collate_fn=collate)

    seen_first, first = loader()
    _run(work_dir, first)
    seen_resumed, resumed = loader()
    _run(work_dir, resumed, osp.join(work_dir, 'iter_2.pth'))
    assert len(seen_first) == 4
    assert seen_resumed == seen_first[2:]
