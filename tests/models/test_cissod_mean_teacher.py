"""CISSODMeanTeacher, the second SSOD framework (docs/frameworks.md): where
GbT's class thresholds act on hard pseudo labels, where GbT's statistics
come from, equality with mmdet's SemiBaseDetector with every module off,
CrS publishing, the configs (same budget as the Soft Teacher demo, only the
framework differs from CISSOD) and 2 training iterations of every demo
config, on a two-stage (Faster R-CNN) and a one-stage (RetinaNet) detector.
"""
import copy
import math
import random
from pprint import pformat

import numpy as np
import pytest
import torch
from conftest import REPO, demo_cfg
from mmdet.models.utils import filter_gt_instances
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from cissod.models.detectors import published_pseudo_labels

DEMO = 'configs/demo/'
TWO_STAGE, ONE_STAGE = 'faster-rcnn', 'retinanet'
#: detector -> (framework without the method, with it)
DEMO_CONFIGS = {
    TWO_STAGE: (DEMO + 'mean_teacher_demo.py',
                DEMO + 'cissod_mean_teacher_demo.py'),
    ONE_STAGE: (DEMO + 'mean_teacher_retinanet_demo.py',
                DEMO + 'cissod_mean_teacher_retinanet_demo.py'),
}
SPLIT1 = 'configs/ci-ssod/coco-split1/'
#: low enough that an untrained teacher yields pseudo labels
LOW = {'model.semi_train_cfg.cls_pseudo_thr': 0.11}
LOW_CISSOD = dict(LOW, **{'model.cissod_cfg.gbt.tau_min': 0.05})


@pytest.fixture(autouse=True)
def fast_config_text(monkeypatch):
    """mmengine formats the whole config with yapf for every log / dump /
    checkpoint (~5 s per run on a busy CPU); a plain dump is enough here."""
    monkeypatch.setattr(Config, 'pretty_text',
                        property(lambda self: pformat(self.to_dict())))


@pytest.fixture
def one_thread():
    """One torch thread (the CPUs are shared; see test_benchmark_configs)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _seed(seed: int = 0) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _set_iter(it: int) -> None:
    MessageHub.get_current_instance().update_info('iter', it)


def _build(model_cfg):
    from mmdet.registry import MODELS

    import cissod  # noqa: F401
    init_default_scope('mmdet')
    return MODELS.build(copy.deepcopy(model_cfg))


def _one_batch(cfg: Config) -> dict:
    import cissod  # noqa: F401
    init_default_scope('mmdet')
    return next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))


def _score_thr(detector) -> float:
    """The teacher's test score threshold (where its detections stop)."""
    if getattr(detector, 'roi_head', None) is not None:
        return float(detector.roi_head.test_cfg['score_thr'])
    return float(detector.bbox_head.test_cfg['score_thr'])


def _flatten(node, prefix=''):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(_flatten(value, f'{prefix}.{key}' if prefix else key))
        return out
    return {prefix: tuple(node) if isinstance(node, list) else node}


def _changed(a: str, b: str, ignore=()) -> dict:
    """Flattened keys in which config ``b`` differs from config ``a``
    (``custom_hooks`` as one key), minus those starting with ``ignore``."""
    fa = _flatten(Config.fromfile(f'{REPO}/{a}').to_dict())
    fb = _flatten(Config.fromfile(f'{REPO}/{b}').to_dict())
    return {
        k: fb.get(k, '<absent>') for k in set(fa) | set(fb)
        if fa.get(k, '<absent>') != fb.get(k, '<absent>')
        and not k.startswith(tuple(ignore))
    }


# --------------------------------------------------------------------------
# configs


def _check_gbr_losses(two_stage: str, one_stage: str) -> None:
    """The one-stage GbR loss (sigmoid) has the two-stage RoI loss's GbR
    settings; its own: the focal loss of RetinaNet and the solver of the
    sigmoid configs."""
    roi = Config.fromfile(f'{REPO}/{two_stage}').model.detector.roi_head
    dense = Config.fromfile(f'{REPO}/{one_stage}').model.detector.bbox_head
    a, b = roi.bbox_head.loss_cls.to_dict(), dense.loss_cls.to_dict()
    assert a.pop('type') == 'GradientBalancedLoss'
    assert b.pop('type') == 'GradientBalancedFocalLoss'
    assert a.pop('solver') == {'type': 'power'}
    assert b.pop('solver') == {'type': 'direct'}  # as configs/gbr/
    a.pop('gamma', None)  # softmax focal exponent (COCO: 1, demo: CE)
    assert (b.pop('gamma'), b.pop('alpha'), b.pop('use_sigmoid'),
            b.pop('loss_weight')) == (2.0, 0.25, True, 1.0)  # RetinaNet's
    assert a == b


def test_demo_configs_same_budget_only_the_framework_differs():
    # the framework (no method) vs Soft Teacher: same data, sampler,
    # schedule, burn-in, EMA; the detector type and pseudo-label settings
    changed = _changed(DEMO + 'soft_teacher_demo.py',
                       DEMO + 'mean_teacher_demo.py')
    assert changed.pop('model.type') == 'CISSODMeanTeacher'
    assert changed.pop('model.semi_train_cfg.cls_pseudo_thr') == 0.7
    assert changed.pop('custom_hooks') == (
        {'type': 'MeanTeacherHook', 'momentum': 0.002},
        {'type': 'PseudoLabelLoggerHook', 'log_interval': 50})
    assert all(k.startswith(('model.semi_train_cfg.', 'model.cissod_cfg.'))
               for k in changed), changed
    assert all(v == '<absent>' for k, v in changed.items()
               if k.startswith('model.semi_train_cfg.')), changed
    # the method on the new framework vs on Soft Teacher: only the framework
    changed = _changed(DEMO + 'cissod_demo.py',
                       DEMO + 'cissod_mean_teacher_demo.py')
    assert changed.pop('model.type') == 'CISSODMeanTeacher'
    assert changed.pop('model.cissod_cfg.gbt.tau_min') == 0.5
    assert set(changed) == {
        'model.semi_train_cfg.' + k
        for k in ('cls_pseudo_thr', 'pseudo_label_initial_score_thr',
                  'rpn_pseudo_thr', 'reg_pseudo_thr', 'jitter_times',
                  'jitter_scale')
    }
    # one-stage vs two-stage: the detector, its burn-in and that burn-in's
    # optimizer (AdamW) at the learning rate it ends with; nothing else
    adamw = {
        'optim_wrapper.optimizer.type': 'AdamW',
        'optim_wrapper.optimizer.weight_decay': 0.05,
        'optim_wrapper.optimizer.momentum': '<absent>',
    }
    for with_method in (0, 1):
        changed = _changed(DEMO_CONFIGS[TWO_STAGE][with_method],
                           DEMO_CONFIGS[ONE_STAGE][with_method],
                           ignore=('model.detector.', 'detector.'))
        assert changed == {
            'load_from':
            'work_dirs/compare/seed0/supervised_retinanet/iter_600.pth',
            'optim_wrapper.optimizer.lr': 1e-4,
            **adamw,
        }
    _check_gbr_losses(DEMO_CONFIGS[TWO_STAGE][1], DEMO_CONFIGS[ONE_STAGE][1])
    # the RetinaNet burn-in: faster-rcnn_sup_demo.py with a RetinaNet and
    # AdamW (same schedule)
    changed = _changed(DEMO + 'faster-rcnn_sup_demo.py',
                       DEMO + 'retinanet_sup_demo.py', ignore=('model.', ))
    assert changed == {'optim_wrapper.optimizer.lr': 1e-3, **adamw}


def test_split1_configs_only_the_framework_differs():
    changed = _changed(
        SPLIT1 + 'cissod_faster-rcnn_r50-caffe_fpn_180k_'
        'ci-ssod-coco-split1.py',
        SPLIT1 + 'cissod-mean-teacher_faster-rcnn_r50-caffe_fpn_180k_'
        'ci-ssod-coco-split1.py')
    assert changed.pop('model.type') == 'CISSODMeanTeacher'
    assert changed.pop('model.cissod_cfg.gbt.tau_min') == 0.5
    assert changed.pop('model.semi_train_cfg.cls_pseudo_thr') == 0.7
    assert all(k.startswith('model.semi_train_cfg.') and v == '<absent>'
               for k, v in changed.items()), changed
    changed = _changed(
        SPLIT1 + 'soft-teacher_faster-rcnn_r50-caffe_fpn_180k_'
        'ci-ssod-coco-split1.py',
        SPLIT1 + 'mean-teacher_faster-rcnn_r50-caffe_fpn_180k_'
        'ci-ssod-coco-split1.py')
    assert changed.pop('model.type') == 'SemiBaseDetector'
    assert changed.pop('model.semi_train_cfg.cls_pseudo_thr') == 0.7
    assert all(k.startswith('model.semi_train_cfg.') and v == '<absent>'
               for k, v in changed.items()), changed
    # one-stage: the same semi-supervised settings and CISSOD settings
    frcnn = Config.fromfile(
        f'{REPO}/{SPLIT1}cissod-mean-teacher_faster-rcnn_r50-caffe_fpn_180k_'
        'ci-ssod-coco-split1.py')
    retina = Config.fromfile(
        f'{REPO}/{SPLIT1}cissod-mean-teacher_retinanet_r50_fpn_180k_'
        'ci-ssod-coco-split1.py')
    plain = Config.fromfile(
        f'{REPO}/{SPLIT1}mean-teacher_retinanet_r50_fpn_180k_'
        'ci-ssod-coco-split1.py')
    assert plain.model.type == 'SemiBaseDetector'
    assert plain.model.semi_train_cfg == frcnn.model.semi_train_cfg
    assert retina.model.type == 'CISSODMeanTeacher'
    assert retina.model.detector.type == 'RetinaNet'
    assert retina.model.detector.bbox_head.num_classes == 80
    assert retina.model.semi_train_cfg == frcnn.model.semi_train_cfg
    assert retina.model.cissod_cfg == frcnn.model.cissod_cfg
    assert retina.train_dataloader.sampler == frcnn.train_dataloader.sampler
    assert retina.train_cfg == frcnn.train_cfg
    assert retina.custom_hooks == frcnn.custom_hooks
    _check_gbr_losses(
        f'{SPLIT1}cissod-mean-teacher_faster-rcnn_r50-caffe_fpn_180k_'
        'ci-ssod-coco-split1.py',
        f'{SPLIT1}cissod-mean-teacher_retinanet_r50_fpn_180k_'
        'ci-ssod-coco-split1.py')


# --------------------------------------------------------------------------
# the framework without the method is mmdet's SemiBaseDetector


def _threshold_between(scores: torch.Tensor) -> float:
    """The midpoint of the two middle distinct scores."""
    s = torch.unique(scores).sort().values
    assert s.numel() >= 4, s
    k = s.numel() // 2
    return float((s[k - 1] + s[k]) / 2)


@pytest.mark.parametrize('detector', [TWO_STAGE, ONE_STAGE])
def test_all_modules_off_equals_semi_base_detector(demo_data_root, tmp_path,
                                                   detector):
    cfg = demo_cfg(DEMO_CONFIGS[detector][0], demo_data_root, str(tmp_path))
    assert not any(cfg.model.cissod_cfg[m].enable
                   for m in ('gbr', 'gbt', 'crs'))
    batch = _one_batch(cfg)
    # a pseudo-label threshold in the middle of the untrained teacher's
    # scores, so that the threshold matters
    _seed()
    probe = _build(cfg.model)
    probe.train()
    data = probe.data_preprocessor(copy.deepcopy(batch), True)
    _, scores = _teacher_detections(probe, data)
    thr = _threshold_between(scores)
    cfg.model.semi_train_cfg.cls_pseudo_thr = thr
    ref_cfg = copy.deepcopy(cfg.model)
    ref_cfg.type = 'SemiBaseDetector'
    ref_cfg.pop('cissod_cfg')
    _seed()
    ref = _build(ref_cfg)
    ours = _build(cfg.model)
    missing, unexpected = ours.load_state_dict(ref.state_dict(), strict=False)
    assert not unexpected
    assert all(k.startswith(('class_thresholds.', 'pseudo_label_counts'))
               for k in missing), missing
    ref.train()
    ours.train()
    _set_iter(0)

    def losses(model):
        _seed(1)
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        return model.loss(data['inputs'], data['data_samples'])

    a, b = losses(ref), losses(ours)
    assert a.keys() == b.keys()
    assert any(k.startswith('unsup_') for k in a)
    for key in a:
        x, y = a[key], b[key]
        x = torch.stack(x).sum() if isinstance(x, list) else x
        y = torch.stack(y).sum() if isinstance(y, list) else y
        assert torch.equal(x, y), (key, x, y)
    # the teacher's pseudo labels were filtered, so the comparison means
    # something: some kept (score > thr), some dropped
    kept = int(ours.pseudo_label_counts.sum())
    assert 0 < kept < int((scores > 0.05).sum()), (kept, scores.numel())
    assert kept == int((scores > thr).sum())


# --------------------------------------------------------------------------
# where GbT acts: the pseudo boxes that reach the unsupervised loss

LABELS = [0, 0, 1, 1, 2, 3, 5, 7]
SCORES = [0.95, 0.6, 0.65, 0.55, 0.72, 0.69, 0.52, 0.3]
#: running mean scores m_c fed to GbT: mean 0.75, so with tau = 0.7 and
#: tau_min = 0.5, theta_c = clip(0.7 * m_c / 0.75, 0.5, 0.7)
MEANS = [0.9, 0.45, 0.9, 0.6, 0.9, 0.45, 0.9, 0.9]
THETA = [0.7, 0.5, 0.7, 0.56, 0.7, 0.5, 0.7, 0.7]


def _known_teacher(model, monkeypatch):
    """The teacher returns LABELS / SCORES on one centred box per instance
    (original image coordinates) for every image."""

    def predict(inputs, samples, rescale=False):
        out = []
        for s in samples:
            h, w = s.ori_shape
            box = torch.tensor([w * 0.3, h * 0.3, w * 0.7, h * 0.7])
            r = DetDataSample(metainfo=s.metainfo)
            # SemiBaseDetector projects from the teacher's view to the
            # original image: give the boxes in the teacher's view
            hm = torch.from_numpy(s.homography_matrix).float()
            corners = torch.tensor([[box[0], box[1], 1.], [box[2], box[3],
                                                          1.]])
            view = (hm @ corners.T).T
            view = view[:, :2] / view[:, 2:]
            lo, hi = view.min(0).values, view.max(0).values
            r.pred_instances = InstanceData(
                bboxes=torch.cat([lo, hi]).repeat(len(LABELS), 1),
                labels=torch.tensor(LABELS),
                scores=torch.tensor(SCORES))
            out.append(r)
        return out

    monkeypatch.setattr(model.teacher, 'predict', predict)


def _spy_student_loss(model, monkeypatch) -> list:
    """Records the pseudo instances of every ``student.loss`` call."""
    calls = []
    original = model.student.loss

    def loss(inputs, samples):
        calls.append([copy.deepcopy(s.gt_instances) for s in samples])
        return original(inputs, samples)

    monkeypatch.setattr(model.student, 'loss', loss)
    return calls


def _pairs(instances) -> list:
    return sorted(zip(instances.labels.tolist(),
                      [round(v, 6) for v in instances.scores.tolist()]))


@pytest.mark.parametrize('detector', [TWO_STAGE, ONE_STAGE])
def test_unsupervised_loss_sees_pseudo_boxes_above_class_thresholds(
        demo_data_root, tmp_path, monkeypatch, detector):
    cfg = demo_cfg(DEMO_CONFIGS[detector][1], demo_data_root, str(tmp_path))
    cissod_cfg = cfg.model.cissod_cfg
    assert cissod_cfg.gbt.enable and cissod_cfg.ssod_warmup_iters == 300
    _seed()
    model = _build(cfg.model)
    model.train()
    ct = model.class_thresholds
    assert (ct.tau, ct.tau_min) == (0.7, 0.5)
    # the single threshold of SemiBaseDetector is off in the model's copy
    assert model.semi_train_cfg.cls_pseudo_thr == -1.0
    assert cfg.model.semi_train_cfg.cls_pseudo_thr == 0.7
    _known_teacher(model, monkeypatch)
    calls = _spy_student_loss(model, monkeypatch)
    batch = _one_batch(cfg)
    n_unsup = sum(s is not None
                  for s in batch['data_samples']['unsup_student'])
    assert n_unsup == 4  # 1 labeled : 4 unlabeled
    hub = MessageHub.get_current_instance()

    def run(it: int):
        _set_iter(it)
        calls.clear()
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        assert len(calls) == 2  # labeled, then unlabeled
        (pl, ) = published_pseudo_labels(hub)
        return losses, calls[1], pl

    # before the SSOD warm-up: score > cls_pseudo_thr (0.7) for every class,
    # exactly what SemiBaseDetector's filter keeps
    losses, seen, pl = run(0)
    ref = DetDataSample()
    ref.gt_instances = InstanceData(
        bboxes=torch.zeros(len(LABELS), 4), labels=torch.tensor(LABELS),
        scores=torch.tensor(SCORES))
    (ref, ) = filter_gt_instances([ref], score_thr=0.7)
    expected = _pairs(ref.gt_instances)
    assert expected == [(0, 0.95), (2, 0.72)]
    assert len(seen) == n_unsup
    for inst in seen:
        assert _pairs(inst) == expected
    assert torch.equal(pl.thresholds, torch.full((8, ), 0.7))

    # after it: score > theta_c with GbT's thresholds (fed known means)
    ct.score_means.reset()
    ct.update_from_sums(torch.full((8, ), 10.0),
                        10.0 * torch.tensor(MEANS, dtype=torch.float64))
    _set_iter(10**6)
    theta = model.current_class_thresholds()
    torch.testing.assert_close(theta, torch.tensor(THETA))
    losses, seen, pl = run(10**6)
    expected = sorted((c, s) for c, s in zip(LABELS, SCORES)
                      if s > THETA[c])
    # class 1 (0.65, 0.55), class 3 (0.69) and class 5 (0.52) pass their
    # lowered thresholds; the fixed 0.7 would have dropped them
    assert expected == [(0, 0.95), (1, 0.55), (1, 0.65), (2, 0.72),
                        (3, 0.69), (5, 0.52)]
    assert len(seen) == n_unsup
    for inst in seen:
        assert _pairs(inst) == expected
    # CrS: the same pseudo labels (class, margin score - theta_c) are
    # published for ClassRebalancingHook, per unlabeled image
    torch.testing.assert_close(pl.thresholds, torch.tensor(THETA))
    assert len(pl.img_ids) == n_unsup
    assert pl.box_image.tolist() == [i for i in range(n_unsup)
                                     for _ in expected]
    assert pl.labels.tolist() == [c for c, s in zip(LABELS, SCORES)
                                  if s > THETA[c]] * n_unsup
    margins = [s - THETA[c] for c, s in zip(LABELS, SCORES) if s > THETA[c]]
    torch.testing.assert_close(pl.margins, torch.tensor(margins * n_unsup))
    assert pl.num_candidates.sum() == len(LABELS) * n_unsup
    assert all(math.isfinite(float(v)) for k, v in losses.items()
               if not isinstance(v, list))


# --------------------------------------------------------------------------
# where GbT's statistics come from: every teacher detection above the
# teacher's test score_thr


def _teacher_detections(model, data: dict) -> tuple:
    inputs = data['inputs']['unsup_teacher'].clone()
    samples = copy.deepcopy(data['data_samples']['unsup_teacher'])
    model.teacher.eval()  # as SemiBaseDetector.get_pseudo_instances
    with torch.no_grad():
        preds = model.teacher.predict(inputs, samples, rescale=False)
    return (torch.cat([p.pred_instances.labels for p in preds]).long(),
            torch.cat([p.pred_instances.scores for p in preds]).float())


@pytest.mark.parametrize('detector', [TWO_STAGE, ONE_STAGE])
def test_gbt_statistics_are_every_teacher_detection(demo_data_root,
                                                    tmp_path, detector,
                                                    one_thread):
    cfg = demo_cfg(DEMO_CONFIGS[detector][1], demo_data_root, str(tmp_path))
    batch = _one_batch(cfg)
    counts = []
    test_thr = None
    for _ in range(2):
        _seed()
        model = _build(cfg.model)
        model.train()
        teacher = model.teacher
        assert _score_thr(teacher) == 0.05  # the documented threshold
        if test_thr is not None:  # the statistics follow the teacher's
            for head in ('roi_head', 'bbox_head'):
                if getattr(teacher, head, None) is not None:
                    test_cfg = getattr(teacher, head).test_cfg
                    test_cfg['score_thr'] = test_thr
        _set_iter(0)
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        labels, scores = _teacher_detections(model, data)
        thr = _score_thr(teacher)
        assert labels.numel() > 0 and bool((scores > thr).all())
        expected = torch.bincount(labels[scores > 0.05], minlength=8)
        _seed(1)
        model.loss(data['inputs'], data['data_samples'])
        means = model.class_thresholds.score_means
        assert torch.equal(means.count, expected), (means.count, expected)
        for c in range(8):
            if expected[c]:
                torch.testing.assert_close(
                    means.mean[c], scores[labels == c].double().mean(),
                    rtol=1e-6, atol=1e-7)
        counts.append(int(expected.sum()))
        # next: a test score_thr between the teacher's scores
        test_thr = _threshold_between(scores)
    # a higher test score_thr means fewer detections in the statistics
    assert counts[1] < counts[0], counts


# --------------------------------------------------------------------------
# the demo configs train


def _run_two_iterations(config, data_root, work_dir, **overrides):
    from mmengine.hooks import Hook

    class Recorder(Hook):
        priority = 'VERY_LOW'

        def __init__(self):
            self.losses = []

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            self.losses.append({k: float(v) for k, v in outputs.items()})

    cfg = demo_cfg(config, data_root, work_dir, **overrides)
    cfg.default_hooks.checkpoint.interval = 10**6
    for node in [cfg.model.detector.get('roi_head', {}).get('bbox_head', {}),
                 cfg.model.detector.get('bbox_head', {})]:
        if node.get('loss_cls', {}).get('warmup_iters') is not None:
            node['loss_cls']['warmup_iters'] = 1
    if cfg.model.detector.type == 'RetinaNet':
        # an untrained RetinaNet scores every anchor at its prior (0.01),
        # below the test score_thr: start the classifier at 0.2
        cfg.model.detector.bbox_head.init_cfg = dict(
            type='Normal', layer='Conv2d', std=0.01,
            override=dict(type='Normal', name='retina_cls', std=0.01,
                          bias_prob=0.2))
    for hook in cfg.custom_hooks:
        if hook['type'] == 'ClassRebalancingHook':
            hook['interval'] = 1
    runner = Runner.from_cfg(cfg)
    recorder = Recorder()
    runner.register_hook(recorder)
    runner.train()
    return runner, recorder.losses


@pytest.mark.parametrize('config', [c for pair in DEMO_CONFIGS.values()
                                    for c in pair])
def test_demo_config_trains_two_iterations(demo_data_root, tmp_path, config,
                                           one_thread):
    from cissod.models.losses import gbr_losses_of
    cissod = 'cissod_' in config
    overrides = dict(LOW_CISSOD if cissod else LOW)
    if cissod:
        overrides['model.cissod_cfg.ssod_warmup_iters'] = 1
    runner, losses = _run_two_iterations(config, demo_data_root,
                                         str(tmp_path), **overrides)
    assert runner.iter == 2 and len(losses) == 2
    for step in losses:
        assert all(math.isfinite(v) for v in step.values()), step
        assert any(k.startswith('unsup_') for k in step)
    model = runner.model
    assert type(model).__name__ == 'CISSODMeanTeacher'
    assert int(model.pseudo_label_counts.sum()) > 0
    assert bool(model.class_thresholds.score_means.seen.any())
    if not cissod:
        return
    assert model.use_gbt and model.use_crs and model.after_ssod_warmup
    (crs, ) = [h for h in runner.hooks
               if type(h).__name__ == 'ClassRebalancingHook']
    assert crs.rebalancer.pool.num_images_with_labels() > 0
    assert crs.rebalancer.class_factors is not None
    # GbR: the RoI head's softmax loss / the dense head's sigmoid loss
    (gbr_loss, ) = gbr_losses_of(model).values()
    balancer = gbr_loss.balancer
    assert balancer.num_updates == 2 and not balancer.in_warmup
    assert model.gbr_class_weights().numel() == 8




def test_tau_min_and_improved_preset(demo_data_root, tmp_path):
    """GbT's lower bound without a candidate threshold, and the
    class-adaptive floor: nothing to lower in SemiBaseDetector (every
    teacher detection is a candidate)."""
    cfg = demo_cfg(DEMO_CONFIGS[TWO_STAGE][1], demo_data_root, str(tmp_path))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.cissod_cfg.gbt.pop('tau_min')
    assert _build(model_cfg).class_thresholds.tau_min == 0.5  # default
    model_cfg.semi_train_cfg.cls_pseudo_thr = 0.3
    model = _build(model_cfg)  # capped at tau, no error
    assert model.class_thresholds.tau_min == model.class_thresholds.tau == 0.3
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.cissod_cfg.preset = 'improved'
    model = _build(model_cfg)
    assert model.class_thresholds.lowest_threshold == 0.3
    assert model.class_thresholds.tau_min == 0.5
    assert 'pseudo_label_initial_score_thr' not in model.semi_train_cfg
    assert model.crs_margin == 'normalized'
