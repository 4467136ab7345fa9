"""CISSODSoftTeacher: equivalence with SoftTeacher, GbT filtering, CrS
recording, and short CPU runs of configs/demo/cissod_demo.py with resume."""
import copy
import math
import random
from typing import Any, List

import numpy as np
import pytest
import torch
from conftest import demo_cfg
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from cissod.engine.hooks import ClassRebalancingHook
from cissod.models.detectors import published_pseudo_labels
from cissod.utils import load_checkpoint_file

#: thresholds low enough that an untrained teacher yields pseudo labels
LOW_THRESHOLDS = {
    'model.semi_train_cfg.pseudo_label_initial_score_thr': 0.05,
    'model.semi_train_cfg.cls_pseudo_thr': 0.11,
    'model.semi_train_cfg.rpn_pseudo_thr': 0.11,
}


def _unwrap(runner: Runner):
    return runner.model.module if hasattr(runner.model, 'module') \
        else runner.model


def _seed(seed: int = 0) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _one_batch(cfg: Config) -> dict:
    runner_loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    return next(iter(runner_loader))


def test_all_modules_off_equals_soft_teacher(demo_data_root, tmp_path):
    """cissod_demo_off.py computes exactly SoftTeacher's losses."""
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    base = demo_cfg('configs/demo/soft_teacher_demo.py', demo_data_root,
                    str(tmp_path), **LOW_THRESHOLDS)
    off = demo_cfg('configs/demo/cissod_demo_off.py', demo_data_root,
                   str(tmp_path), **LOW_THRESHOLDS)
    _seed()
    soft_teacher = MODELS.build(base.model)
    cissod_model = MODELS.build(off.model)
    missing, unexpected = cissod_model.load_state_dict(
        soft_teacher.state_dict(), strict=False)
    assert not unexpected
    assert all(k.startswith(('class_thresholds.', 'pseudo_label_counts'))
               for k in missing), missing
    soft_teacher.train()
    cissod_model.train()
    batch = _one_batch(base)

    def losses(model):
        _seed(1)
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        return model.loss(data['inputs'], data['data_samples'])

    ref, ours = losses(soft_teacher), losses(cissod_model)
    assert ref.keys() == ours.keys()
    for key in ref:
        a, b = ref[key], ours[key]
        a = torch.stack(a).sum() if isinstance(a, list) else a
        b = torch.stack(b).sum() if isinstance(b, list) else b
        assert torch.equal(a, b), (key, a, b)
    # the teacher produced pseudo labels, so the comparison means something
    assert int(cissod_model.pseudo_label_counts.sum()) > 0


def _sample(labels, scores) -> DetDataSample:
    s = DetDataSample(metainfo=dict(img_id=0))
    s.gt_instances = InstanceData(
        bboxes=torch.rand(len(labels), 4),
        labels=torch.tensor(labels),
        scores=torch.tensor(scores))
    return s


def test_class_thresholds_filter_pseudo_labels(demo_data_root, tmp_path,
                                               monkeypatch):
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    model = MODELS.build(cfg.model)
    thr = torch.tensor([0.9, 0.5, 0.7, 0.9, 0.9, 0.6, 0.55, 0.9])
    monkeypatch.setattr(type(model), 'current_class_thresholds',
                        lambda self: thr)
    samples = [_sample([0, 1, 1, 2, 6], [0.95, 0.5, 0.51, 0.69, 0.56]),
               _sample([], [])]
    kept = model.filter_by_class_thresholds(samples)
    assert kept[0].gt_instances.labels.tolist() == [0, 1, 6]
    assert torch.allclose(kept[0].gt_instances.scores,
                          torch.tensor([0.95, 0.51, 0.56]))
    assert len(kept[1].gt_instances) == 0
    assert len(samples[0].gt_instances) == 5  # inputs untouched
    # with GbT on, the class thresholds replace Soft Teacher's own filter:
    # the detector's copy of semi_train_cfg keeps everything, once and for
    # all, and the configured cls_pseudo_thr is GbT's tau
    assert model.semi_train_cfg.cls_pseudo_thr == -1.0
    assert cfg.model.semi_train_cfg.cls_pseudo_thr == 0.9  # config intact
    assert model.class_thresholds.tau == 0.9
    # without GbT, Soft Teacher's filter is left as it is
    off = MODELS.build(dict(cfg.model, cissod_cfg=dict(
        cfg.model.cissod_cfg, gbt=dict(enable=False))))
    assert off.semi_train_cfg.cls_pseudo_thr == 0.9


def test_warmup_thresholds_equal_soft_teacher_filter(demo_data_root,
                                                     tmp_path):
    """In the SSOD warm-up GbT's filter keeps what Soft Teacher's
    ``score > cls_pseudo_thr`` keeps (tau in float32, same comparison)."""
    from mmdet.models.utils import filter_gt_instances
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    model = MODELS.build(cfg.model)
    model.ssod_warmup_iters = 10**9
    scores = [0.9, 0.9000001, 0.8999999, 0.95, 0.1]
    samples = [_sample([0, 1, 2, 3, 4], scores)]
    ours = model.filter_by_class_thresholds(samples)
    parent = filter_gt_instances(copy.deepcopy(samples), score_thr=0.9)
    assert torch.equal(ours[0].gt_instances.scores,
                       parent[0].gt_instances.scores)
    assert ours[0].gt_instances.labels.tolist() == [1, 3]


class Probe(Hook):
    """Records the images of every batch and the CrS/GbT state seen before
    the first iteration it runs."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.img_ids: List[List[int]] = []
        self.state = None
        self.losses: List[float] = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        samples = data_batch['data_samples']
        self.img_ids.append([
            int(s.metainfo['img_id']) for branch in ('sup', 'unsup_teacher')
            for s in samples[branch] if s is not None
        ])
        if self.state is None:
            self.state = _crs_state(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append(float(outputs['loss']))


def _crs_hook(runner) -> ClassRebalancingHook:
    (hook, ) = [h for h in runner.hooks
                if isinstance(h, ClassRebalancingHook)]
    return hook


def _crs_state(runner) -> dict:
    model = _unwrap(runner)
    hook = _crs_hook(runner)
    return copy.deepcopy(dict(
        thresholds=model.class_thresholds.state_dict(),
        counts=model.pseudo_label_counts.clone(),
        pool=None if hook.rebalancer is None else
        hook.rebalancer.pool.state_dict(),
        class_factors=None if hook.rebalancer is None else
        hook.rebalancer.class_factors,
        sampler=hook.sampler.state_dict() if hasattr(hook, 'sampler')
        else runner.train_dataloader.sampler.state_dict()))


def _assert_same(a: Any, b: Any, path: str = '') -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{path}[{i}]')
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    else:
        assert a == b, path


def _cissod_cfg(data_root, work_dir, max_iters=6):
    overrides = dict(LOW_THRESHOLDS)
    overrides.update({
        'model.cissod_cfg.ssod_warmup_iters': 1,
        'model.detector.roi_head.bbox_head.loss_cls.warmup_iters': 1,
        'default_hooks.checkpoint.interval': 4,
        'default_hooks.checkpoint.max_keep_ckpts': 3,
    })
    cfg = demo_cfg('configs/demo/cissod_demo.py', data_root, work_dir,
                   max_iters=max_iters, **overrides)
    for hook in cfg.custom_hooks:
        if hook['type'] == 'ClassRebalancingHook':
            hook['interval'] = 2
    return cfg


def _strict_load(path: str) -> dict:
    """``torch.load(weights_only=True)`` with mmengine's allow-list only."""
    from mmengine.runner import checkpoint as mmengine_checkpoint
    allow = mmengine_checkpoint.get_torch_safe_globals()
    with torch.serialization.safe_globals(allow):
        return torch.load(path, map_location='cpu', weights_only=True)


def test_cissod_demo_runs_and_resumes_identically(demo_data_root, tmp_path,
                                                  torch_load_calls):
    # stacks whose mmengine loads with weights_only=True (torch >= 2.6):
    # every torch.load, the resume's included, must stay weights_only
    from mmengine.runner import checkpoint as mmengine_checkpoint
    weights_only_stack = hasattr(mmengine_checkpoint,
                                 'get_torch_safe_globals')
    full = Probe()
    runner = Runner.from_cfg(_cissod_cfg(demo_data_root, str(tmp_path)))
    runner.register_hook(full)
    runner.train()
    assert runner.iter == 6
    assert all(math.isfinite(v) for v in full.losses), full.losses
    model = _unwrap(runner)
    hook = _crs_hook(runner)
    assert int(model.pseudo_label_counts.sum()) > 0
    assert hook.rebalancer.pool.num_images_with_labels() > 0
    # updated at iterations 3 and 5
    assert hook.rebalancer.class_factors is not None
    assert bool(model.class_thresholds.score_means.seen.any())

    ckpt = load_checkpoint_file(str(tmp_path / 'iter_4.pth'))
    assert 'cissod_crs' in ckpt
    if weights_only_stack:  # our payloads are tensors and plain types
        strict = _strict_load(str(tmp_path / 'iter_4.pth'))
        _assert_same(strict['cissod_crs'], ckpt['cissod_crs'], 'cissod_crs')

    resumed = Probe()
    cfg = _cissod_cfg(demo_data_root, str(tmp_path / 'resumed'))
    cfg.resume = True
    cfg.load_from = str(tmp_path / 'iter_4.pth')
    runner2 = Runner.from_cfg(cfg)
    runner2.register_hook(resumed)
    before = len(torch_load_calls)
    runner2.train()
    assert runner2.iter == 6
    assert len(torch_load_calls) > before, 'the resume read no checkpoint'
    if weights_only_stack:  # no fallback to weights_only=False
        assert all(w is True for w in torch_load_calls), torch_load_calls
    # the state restored at iteration 4 is the state saved at iteration 4
    saved = ckpt['cissod_crs']
    _assert_same(resumed.state['pool'], saved['pool'], 'pool')
    _assert_same(resumed.state['sampler'], saved['sampler'], 'sampler')
    _assert_same(resumed.state['class_factors'], saved['class_factors'],
                 'class_factors')
    prefix = 'class_thresholds.'
    saved_thr = {k[len(prefix):]: v for k, v in ckpt['state_dict'].items()
                 if k.startswith(prefix)}
    _assert_same(resumed.state['thresholds'], saved_thr, 'thresholds')
    # and the sampler continues with the same images as the full run
    assert resumed.img_ids == full.img_ids[4:], (resumed.img_ids,
                                                 full.img_ids)


def test_crs_hook_requires_the_sampler(demo_data_root, tmp_path):
    cfg = _cissod_cfg(demo_data_root, str(tmp_path), max_iters=1)
    cfg.train_dataloader.sampler = dict(
        type='GroupMultiSourceSampler', batch_size=5, source_ratio=[1, 4])
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TypeError, match='ClassRebalancingMultiSourceSampler'):
        runner.train()


# --------------------------------------------------------------------------
# cissod_cfg options: preset, gbt.score_source, crs.margin


def _build_cissod(cfg: Config, **cissod_cfg):
    """CISSODSoftTeacher of ``cfg`` with ``cissod_cfg`` keys replaced."""
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.cissod_cfg.update(cissod_cfg)
    return MODELS.build(model_cfg)


def test_preset_improved(demo_data_root, tmp_path):
    cfg = demo_cfg('configs/demo/cissod_demo_improved.py', demo_data_root,
                   str(tmp_path))
    assert cfg.model.cissod_cfg.preset == 'improved'
    assert cfg.model.semi_train_cfg.pseudo_label_initial_score_thr == 0.5
    model = _build_cissod(cfg)
    assert model.cissod_preset == 'improved'
    ct = model.class_thresholds
    assert ct.floor_min == 0.3 and ct.lowest_threshold == 0.3
    assert model.crs_margin == 'normalized'
    # the candidate filter is lowered to the floor, GbT's lower bound and
    # upper bound are not
    assert model.semi_train_cfg.pseudo_label_initial_score_thr == 0.3
    assert ct.tau_min == 0.5 and ct.tau == 0.9
    # the rest is the reference
    assert model.gbt_score_source == 'detections'
    assert model.gbt_detection_score_thr == 0.05
    assert ct.unseen_classes == 'floor'
    assert model.use_gbt and model.use_crs and model.use_gbr

    # explicit gbt / crs keys win over the preset
    model = _build_cissod(cfg, gbt=dict(floor_min=0.4))
    assert model.class_thresholds.floor_min == 0.4
    assert model.class_thresholds.tau_min == 0.5
    assert model.semi_train_cfg.pseudo_label_initial_score_thr == 0.4
    assert model.crs_margin == 'normalized'  # still the preset's
    model = _build_cissod(cfg, crs=dict(margin='score_minus_threshold'))
    assert model.crs_margin == 'score_minus_threshold'
    assert model.class_thresholds.floor_min == 0.3
    # floor_min == tau_min: nothing to lower
    model = _build_cissod(cfg, gbt=dict(floor_min=0.5))
    assert model.semi_train_cfg.pseudo_label_initial_score_thr == 0.5
    # GbT off: the floor does not lower the candidate filter
    model = _build_cissod(cfg, gbt=dict(enable=False))
    assert model.semi_train_cfg.pseudo_label_initial_score_thr == 0.5


def test_preset_reference_is_the_default(demo_data_root, tmp_path):
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    assert 'preset' not in cfg.model.cissod_cfg
    for model in (_build_cissod(cfg),
                  _build_cissod(cfg, preset='reference')):
        assert model.cissod_preset == 'reference'
        ct = model.class_thresholds
        assert ct.floor_min is None and ct.lowest_threshold == 0.5
        assert ct.tau_min == 0.5 and ct.unseen_classes == 'floor'
        assert model.crs_margin == 'score_minus_threshold'
        assert model.gbt_score_source == 'detections'
        assert model.gbt_detection_score_thr == 0.05
        assert model.semi_train_cfg.pseudo_label_initial_score_thr == 0.5


def test_building_does_not_change_the_config(demo_data_root, tmp_path):
    """Building the 'improved' model twice from one config gives the same
    model: the lowered candidate threshold must not leak into the config
    (it would become GbT's tau_min at the next build)."""
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    cfg = demo_cfg('configs/demo/cissod_demo_improved.py', demo_data_root,
                   str(tmp_path))
    first = MODELS.build(cfg.model)
    assert cfg.model.semi_train_cfg.pseudo_label_initial_score_thr == 0.5
    second = MODELS.build(cfg.model)
    assert second.class_thresholds.tau_min == \
        first.class_thresholds.tau_min == 0.5


def test_unknown_cissod_options_raise(demo_data_root, tmp_path):
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    with pytest.raises(ValueError, match='preset'):
        _build_cissod(cfg, preset='best')
    with pytest.raises(ValueError, match='score_source'):
        _build_cissod(cfg, gbt=dict(score_source='proposals'))
    with pytest.raises(ValueError, match='margin'):
        _build_cissod(cfg, crs=dict(margin='ratio'))
    with pytest.raises(ValueError, match='unseen_classes'):
        _build_cissod(cfg, gbt=dict(unseen_classes='zero'))


def _teacher_detections(model, data: dict) -> tuple:
    """Labels and scores of the teacher's RoI-head detections on the
    unsup_teacher branch, computed with ``teacher.predict`` on copies."""
    inputs = data['inputs']['unsup_teacher'].clone()
    samples = copy.deepcopy(data['data_samples']['unsup_teacher'])
    with torch.no_grad():
        preds = model.teacher.predict(inputs, samples, rescale=False)
    labels = torch.cat([p.pred_instances.labels for p in preds]).long()
    scores = torch.cat([p.pred_instances.scores for p in preds]).float()
    return labels, scores


def _threshold_between(scores: torch.Tensor) -> float:
    """A threshold in the middle of the scores, in the widest gap between
    two neighbouring scores of the middle half (robust to rounding)."""
    s = torch.unique(scores.double()).sort().values
    assert s.numel() >= 4, s
    lo, hi = s.numel() // 4, (3 * s.numel()) // 4
    gaps = s[lo + 1:hi + 1] - s[lo:hi]
    k = lo + int(torch.argmax(gaps))
    assert float(s[k + 1] - s[k]) > 1e-6
    return float((s[k] + s[k + 1]) / 2)


@pytest.mark.parametrize('score_source', ['detections', 'candidates'])
def test_gbt_score_statistics_source(demo_data_root, tmp_path, score_source):
    """One training ``loss`` call (GbT statistics phase, before the SSOD
    warm-up): the running class scores count every teacher RoI-head
    detection with score > 0.05 ('detections', the reference) or only
    those above ``pseudo_label_initial_score_thr`` ('candidates')."""
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    _seed()
    model = _build_cissod(cfg, gbt=dict(score_source=score_source))
    model.train()
    MessageHub.get_current_instance().update_info('iter', 0)
    assert not model.after_ssod_warmup
    n = model.class_thresholds.num_classes
    batch = _one_batch(cfg)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    det_labels, det_scores = _teacher_detections(model, data)
    assert det_labels.numel() > 0
    # the teacher's test score_thr is 0.05 already
    keep = det_scores > 0.05
    expected_det = torch.bincount(det_labels[keep], minlength=n)
    # a candidate threshold between the untrained teacher's scores, so
    # that the two sources differ
    thr = _threshold_between(det_scores)
    model.semi_train_cfg.pseudo_label_initial_score_thr = thr
    cand = det_scores > thr
    expected_cand = torch.bincount(det_labels[cand], minlength=n)
    assert 0 < int(expected_cand.sum()) < int(expected_det.sum())

    _seed(1)
    model.loss(data['inputs'], data['data_samples'])
    means = model.class_thresholds.score_means
    pl = published_pseudo_labels(MessageHub.get_current_instance())[-1]
    # the pseudo-label candidates are those above the threshold in both
    assert torch.equal(pl.num_candidates, expected_cand)
    if score_source == 'detections':
        expected, chosen = expected_det, keep
    else:
        expected, chosen = expected_cand, cand
    assert torch.equal(means.count, expected), (means.count, expected)
    # exact phase: m_c is the plain mean of the chosen scores of class c
    labels, scores = det_labels[chosen], det_scores[chosen].double()
    for c in range(n):
        if expected[c] > 0:
            ref = scores[labels == c].mean()
            torch.testing.assert_close(means.mean[c], ref, rtol=1e-6,
                                       atol=1e-7)
        else:
            assert means.mean[c].item() == 0.0


# --------------------------------------------------------------------------
# one switch per module


def test_gbr_switch_keeps_weights_at_one(demo_data_root, tmp_path):
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    cfg.model.detector.roi_head.bbox_head.loss_cls.warmup_iters = 0
    on = _build_cissod(cfg)
    (b_on, ) = [loss.balancer for loss in on.gbr_losses.values()]
    assert on.use_gbr and b_on.reweighting
    off = _build_cissod(cfg, gbr=dict(enable=False))
    (b_off, ) = [loss.balancer for loss in off.gbr_losses.values()]
    assert not off.use_gbr and not b_off.reweighting
    assert not _build_cissod(cfg, gbr=False).use_gbr  # a bool is enable=
    with pytest.raises(ValueError, match='unknown cissod_cfg.gbr keys'):
        _build_cissod(cfg, gbr=dict(enable=True, warmup_iters=3))
    # the same gradient statistics give weights != 1 on, == 1 off; G is
    # recorded either way (telemetry)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 9, generator=gen) * 3
    labels = torch.cat([torch.zeros(56, dtype=torch.long),
                        torch.arange(8)])
    for b in (b_on, b_off):
        b.train()
        b.record(logits, labels)
        b.step()
    assert torch.equal(b_on.gradient_matrix, b_off.gradient_matrix)
    assert not torch.allclose(b_on.weights, torch.ones(9, dtype=torch.float64))
    assert torch.equal(b_off.weights, torch.ones(9, dtype=torch.float64))
    assert torch.equal(b_off.roi_weights(labels), torch.ones(64))


def test_crs_switch_turns_the_hook_off(demo_data_root, tmp_path):
    cfg = _cissod_cfg(demo_data_root, str(tmp_path), max_iters=2)
    cfg.model.cissod_cfg.crs = dict(enable=False)
    cfg.default_hooks.checkpoint.interval = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = _crs_hook(runner)
    assert not hook.enabled and hook.rebalancer is None
    ckpt = load_checkpoint_file(str(tmp_path / 'iter_2.pth'))
    assert 'cissod_crs' not in ckpt
    # the sampler kept its uniform unlabeled weights
    sampler = runner.train_dataloader.batch_sampler.sampler \
        if hasattr(runner.train_dataloader.batch_sampler, 'sampler') \
        else runner.train_dataloader.sampler
    assert torch.equal(sampler.weights(1), torch.ones_like(sampler.weights(1)))


def test_jacobi_solver_loss_weighted_by_both_branches_in_the_detector(
        demo_data_root, tmp_path):
    """Through the detector: the labeled branch emits
    ``sup_loss_gbr_solver`` (x sup_weight = 1) and the unlabeled one
    ``unsup_loss_gbr_solver`` (x unsup_weight), from the same solver
    state, as the reference trains its Jacobi module from both losses."""
    cfg = demo_cfg('configs/demo/cissod_demo.py', demo_data_root,
                   str(tmp_path))
    loss_cfg = cfg.model.detector.roi_head.bbox_head.loss_cls
    loss_cfg.solver = dict(type='jacobi')
    loss_cfg.warmup_iters = 1
    cfg.model.semi_train_cfg.unsup_weight = 3.0
    _seed()
    model = _build_cissod(cfg)
    model.train()
    (gbr_loss, ) = model.gbr_losses.values()
    balancer = gbr_loss.balancer
    logits = torch.randn(64, balancer.num_classes + 1)
    labels = torch.arange(64) % (balancer.num_classes + 1)
    balancer.record(logits, labels)
    balancer.step()  # past the warm-up: the solver loss is live
    expected = float(balancer.solver_loss())
    MessageHub.get_current_instance().update_info('iter', 0)
    data = model.data_preprocessor(copy.deepcopy(_one_batch(cfg)), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert float(losses['sup_loss_gbr_solver']) == pytest.approx(expected)
    assert float(losses['unsup_loss_gbr_solver']) == pytest.approx(
        3.0 * expected)
