"""Benchmark of GbR for sigmoid classifiers against a plain focal loss (CPU).

Usage::

    .venv/bin/python bench/bench_sigmoid_gbr.py [--repeats 7] [--skip-model]

Times in one run, round-robin (one call of each per repeat, so other load
on the machine affects all alike), median and minimum:

(1) the classification loss alone, forward + backward, on dense-head inputs:
    mmdet's ``FocalLoss`` vs ``GradientBalancedFocalLoss`` after its warm-up
    (``roi_weights`` + ``record`` + the focal loss, then the balancer's
    ``step``: reduce, accumulate, solve), at COCO scale (80 classes,
    2 images x 49,104 anchors: RetinaNet at 512 x 512) and LVIS scale
    (1,203 classes, 2 images x 12,276 anchors: 256 x 256);
(2) one whole training iteration of mmdet's RetinaNet R50-FPN (2 images of
    512 x 512, random weights, SGD step) with ``FocalLoss`` vs with
    ``GradientBalancedFocalLoss`` + ``GradientBalancer.step``, the same
    ``direct`` solver as configs/gbr/retinanet_r50_fpn_gbr_1x_coco.py.

and prints the ratios GbR / plain of the medians and of the minima (the
minimum is the least disturbed by other load on the machine). The stdout
of a run is what
``bench/results_sigmoid_gbr.txt`` holds.
"""
import argparse
import logging
import os
import platform
from typing import Callable, Dict, Tuple

import torch
from bench_gbr import interleaved_ms

# anchors of RetinaNet (9 per location, strides 8..128) at a square input
ANCHORS_512 = 9 * sum((512 // s)**2 for s in (8, 16, 32, 64, 128))
ANCHORS_256 = 9 * sum((256 // s)**2 for s in (8, 16, 32, 64, 128))


def dense_inputs(n: int, num_samples: int, seed: int = 0
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits near the focal prior, ~1 % positives (long-tailed classes),
    label weights 1 (a few ignored anchors at 0)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_samples, n, generator=g) * 0.7 - 4.6
    freq = 1.0 / torch.arange(1, n + 1, dtype=torch.float64)
    fg = torch.multinomial(freq, num_samples, replacement=True, generator=g)
    is_fg = torch.rand(num_samples, generator=g) < 0.01
    labels = torch.where(is_fg, fg, torch.full_like(fg, n))
    logits[is_fg, labels[is_fg]] += 4.0
    weights = (torch.rand(num_samples, generator=g) > 0.02).float()
    return logits, labels, weights


def loss_section(n: int, num_samples: int, repeats: int) -> Dict[str, float]:
    from mmdet.models.losses import FocalLoss

    from cissod.models.losses import GradientBalancedFocalLoss
    logits, labels, weights = dense_inputs(n, num_samples)
    avg = float((labels < n).sum())
    plain = FocalLoss(gamma=2.0, alpha=0.25)
    ours = GradientBalancedFocalLoss(num_classes=n, warmup_iters=1,
                                     solver=dict(type='direct'))
    ours.train()
    ours(logits, labels, weights, avg_factor=avg)
    ours.balancer.step()
    assert not ours.balancer.in_warmup

    def run(loss, step: bool) -> Callable[[], None]:
        def fn():
            z = logits.clone().requires_grad_(True)
            loss(z, labels, weights, avg_factor=avg).backward()
            if step:
                ours.balancer.step()
        return fn

    t = interleaved_ms(dict(plain=run(plain, False), gbr=run(ours, True)),
                       repeats)
    print(f'  classes {n}, samples {num_samples:,} '
          f'({num_samples * n / 1e6:.1f} M logits)')
    for k, (med, mn) in t.items():
        print(f'    {k:6s} {med:9.1f} ms (min {mn:.1f})')
    ratio = t['gbr'][0] / t['plain'][0]
    print(f'    ratio gbr / plain: {ratio:.2f} (of the minima: '
          f'{t["gbr"][1] / t["plain"][1]:.2f})')
    return dict(plain=t['plain'][0], gbr=t['gbr'][0], ratio=ratio)


def model_section(repeats: int) -> Dict[str, float]:
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData

    import cissod  # noqa: F401 (registers the loss)
    from cissod_core.gbr import GradientBalancer
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = Config.fromfile(
        os.path.join(repo, 'configs/gbr/retinanet_r50_fpn_gbr_1x_coco.py'))
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.loss_cls.warmup_iters = 1
    plain_cfg = cfg.model.copy()
    plain_cfg.bbox_head = dict(cfg.model.bbox_head)
    plain_cfg.bbox_head['loss_cls'] = dict(type='FocalLoss', use_sigmoid=True,
                                           gamma=2.0, alpha=0.25,
                                           loss_weight=1.0)
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(2, 3, 512, 512, generator=g) * 255
    samples = []
    for i in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(512, 512),
                                        ori_shape=(512, 512),
                                        pad_shape=(512, 512),
                                        scale_factor=(1.0, 1.0),
                                        batch_input_shape=(512, 512)))
        xy = torch.rand(6, 2, generator=g) * 400
        wh = 20 + torch.rand(6, 2, generator=g) * 90
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, 80, (6, ), generator=g))
        samples.append(s)

    from mmengine.logging import MMLogger
    for handler in MMLogger.get_current_instance().handlers:
        handler.setLevel(logging.WARNING)  # no per-parameter init log

    def make(model_cfg) -> Callable[[], None]:
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        model.init_weights()  # the focal prior bias of the classifier
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        balancers = [m for m in model.modules()
                     if isinstance(m, GradientBalancer)]
        inputs = model.data_preprocessor(
            dict(inputs=list(imgs), data_samples=samples), True)

        def fn():
            losses = model.loss(inputs['inputs'], inputs['data_samples'])
            loss, _ = model.parse_losses(losses)
            opt.zero_grad()
            loss.backward()
            opt.step()
            for b in balancers:
                b.step()
        return fn

    plain_fn, gbr_fn = make(plain_cfg), make(cfg.model)
    t = interleaved_ms(dict(plain=plain_fn, gbr=gbr_fn), repeats, warmup=1)
    print('  RetinaNet R50-FPN, 2 x 512 x 512, one SGD iteration')
    for k, (med, mn) in t.items():
        print(f'    {k:6s} {med:9.1f} ms (min {mn:.1f})')
    ratio = t['gbr'][0] / t['plain'][0]
    print(f'    ratio gbr / plain: {ratio:.3f} (of the minima: '
          f'{t["gbr"][1] / t["plain"][1]:.3f})')
    return dict(ratio=ratio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--skip-model', action='store_true',
                        help='only the loss-level timings')
    args = parser.parse_args()
    print(f'torch {torch.__version__}, {platform.processor() or "cpu"}, '
          f'{torch.get_num_threads()} threads, {args.repeats} repeats')
    print('(1) classification loss forward + backward (+ balancer step)')
    loss_section(80, 2 * ANCHORS_512, args.repeats)
    loss_section(1203, 2 * ANCHORS_256, args.repeats)
    if not args.skip_model:
        print('(2) whole training iteration')
        model_section(args.repeats)


if __name__ == '__main__':
    main()
