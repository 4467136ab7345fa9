"""Cost of feeding GbT every teacher detection (the reference's statistics).

Soft Teacher drops the teacher's detections below
``pseudo_label_initial_score_thr`` in place, so ``CISSODSoftTeacher``
recomputes the teacher's RPN + RoI-head predictions on the teacher features
Soft Teacher already computed (``teacher_detections``). This bench times, on
the demo model (the small Faster R-CNN of ``configs/demo``, the burn-in
checkpoint if ``--checkpoint`` is given, else random weights) and the demo
data, in one run and interleaved:

(a) Soft Teacher's ``get_pseudo_instances`` on a batch of 4 unlabeled images
(b) ``teacher_detections`` on its output (the extra work)
(c) one full training step (``loss`` + backward) of CISSODSoftTeacher

and prints b/a and b/c.

    python bench/bench_gbt_detections.py \
        --checkpoint work_dirs/compare/seed0/supervised/iter_600.pth
"""
import argparse
import copy
import os.path as osp
import statistics
import time

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=osp.join(REPO, 'data/demo'))
    parser.add_argument('--checkpoint', help='burn-in checkpoint (detector '
                        'keys); random weights when omitted')
    parser.add_argument('--repeats', type=int, default=20)
    return parser.parse_args()


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    args = parse_args()
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint

    import cissod  # noqa: F401
    from cissod.utils.short_run import short_run_cfg
    init_default_scope('mmdet')
    cfg = short_run_cfg('configs/demo/cissod_demo.py', args.data_root,
                        '/tmp', max_iters=1)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if args.checkpoint and osp.isfile(args.checkpoint):
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    elif args.checkpoint:
        print(f'{args.checkpoint} not found (run make demo first): random '
              'weights')
    model.train()
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batch = next(iter(loader))
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    inputs = data['inputs']['unsup_teacher']
    samples = data['data_samples']['unsup_teacher']

    out = {}

    def pseudo():
        out['p'] = model.get_pseudo_instances(inputs, copy.deepcopy(samples))

    def dets():
        model.teacher_detections(*out['p'])

    params = [p for p in model.parameters() if p.requires_grad]

    def step():
        d = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = model.loss(d['inputs'], d['data_samples'])
        total = sum(v.sum() if torch.is_tensor(v) else sum(v)
                    for k, v in losses.items() if 'loss' in k)
        total.backward()
        for p in params:
            p.grad = None

    with torch.no_grad():
        pseudo()
        num = model.teacher_detections(*out['p'])[0].numel()
    step()  # warm-up
    a = timed(lambda: torch.no_grad()(pseudo)(), args.repeats)
    b = timed(lambda: torch.no_grad()(dets)(), args.repeats)
    c = timed(step, max(args.repeats // 4, 3))
    print(f'threads: {torch.get_num_threads()}, batch: {inputs.shape[0]} '
          f'unlabeled images {tuple(inputs.shape[2:])}, {num} teacher '
          'detections')
    print(f'(a) Soft Teacher get_pseudo_instances   {1e3 * a:8.1f} ms')
    print(f'(b) teacher_detections (extra, ours)    {1e3 * b:8.1f} ms')
    print(f'(c) one CISSOD training step            {1e3 * c:8.1f} ms')
    print(f'b/a = {b / a:.3f}   b/c = {b / c:.3f}')


if __name__ == '__main__':
    main()
