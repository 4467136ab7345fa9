"""The GPU check: GbR / GbT / CrS exact on the device, the GbR benchmark
there, and a full-size iteration of Soft Teacher vs CISSOD.

    bash tools/gpu_check.sh --wheels DIR        # install + build + this
    python tools/gpu_check.py --device cuda     # the checks alone
    python tools/gpu_check.py --device cpu --size toy   # what CI runs

Steps (each a function below; the summary table goes to stdout and --out):

2. ``exactness``: the gradient matrix G, the solvers' class weights, the
   GbT thresholds and the CrS factors computed on the device (float32, and
   inside ``torch.autocast`` as under ``--amp``) against float64 CPU
   references, at C = 81 and 1,204: max relative error.
3. ``bench_gbr``: ``bench/bench_gbr.py --device D``; its ratios.
4. ``time_iterations``: the CI-SSOD COCO split1 configs (R50-FPN, 1
   labeled + 4 unlabeled images per GPU at the configs' scales, randomly
   initialised backbone: nothing is downloaded) of Soft Teacher and CISSOD
   on synthetic COCO-size images, one process per (method, precision):
   seconds per iteration (median after the warm-up; CISSOD's warm-ups are
   shortened so that GbR, GbT and CrS are all active), peak GPU memory and
   the share of the teacher's second RPN + RoI pass
   (``CISSODSoftTeacher.teacher_detections``).

``--size toy`` runs the same code at toy size (small images, few
iterations, C = 81 and 1,204 still) so that the script cannot rot.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'soft_teacher': 'configs/ci-ssod/coco-split1/soft-teacher_faster-rcnn_'
                    'r50-caffe_fpn_180k_ci-ssod-coco-split1.py',
    'cissod': 'configs/ci-ssod/coco-split1/cissod_faster-rcnn_r50-caffe_'
              'fpn_180k_ci-ssod-coco-split1.py',
}
#: (image size (w, h), pipeline scale factor, warm-up, measured iterations,
#: labeled / unlabeled images, exactness RoIs, bench repeats)
SIZES = {
    'full': dict(image=(640, 480), scale=1.0, warmup=10, measure=30,
                 images=(40, 160), rois=2560, repeats=15),
    'toy': dict(image=(96, 72), scale=0.1, warmup=1, measure=2,
                images=(10, 20), rois=512, repeats=2,
                # fewer RoIs per image: the RoI head dominates on a CPU
                cfg_options={
                    'model.semi_train_cfg.jitter_times': 2,
                    'model.detector.train_cfg.rpn_proposal.max_per_img': 64,
                    'model.detector.train_cfg.rcnn.sampler.num': 64,
                    'model.detector.test_cfg.rpn.max_per_img': 64,
                    'model.detector.test_cfg.rcnn.max_per_img': 10}),
}


# --------------------------------------------------------------- exactness
def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """``max |value - reference| / max |reference|`` (float64, on the CPU)."""
    ref = reference.detach().double().cpu()
    diff = (value.detach().double().cpu() - ref).abs().max()
    return float(diff / ref.abs().max().clamp(min=1e-300))


def amp_dtype(device: torch.device) -> torch.dtype:
    """The autocast dtype: fp16 on CUDA (AmpOptimWrapper's), bf16 on the
    CPU."""
    return torch.float16 if device.type == 'cuda' else torch.bfloat16


def precision_context(device: torch.device,
                      amp: bool) -> contextlib.AbstractContextManager:
    """``torch.autocast`` as under ``--amp``, or nothing."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=amp_dtype(device))


def long_tail_logits(n: int, num_rois: int, seed: int
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits ``(R, n + 1)``, labels ``(R,)`` (Zipf classes, 75 %
    background) and RoI weights ``(R,)`` of a long-tailed detector."""
    gen = torch.Generator().manual_seed(seed)
    freq = torch.arange(1, n + 1, dtype=torch.float64).pow(-1.1)
    labels = torch.full((num_rois, ), n, dtype=torch.long)
    fg = num_rois // 4
    labels[:fg] = torch.multinomial(freq / freq.sum(), fg, True,
                                    generator=gen)
    logits = torch.randn(num_rois, n + 1, generator=gen)
    logits[:, :n] += 0.5 * (freq / freq.max()).log().float()
    logits[torch.arange(num_rois), labels] += 3.0
    weights = torch.rand(num_rois, generator=gen) * 0.5 + 0.5
    return logits, labels, weights


def _g_error(device, n, rois, amp) -> Tuple[float, torch.Tensor]:
    from cissod_core.gbr import batch_gradient_matrix
    batches = [long_tail_logits(n, rois, seed) for seed in range(4)]
    ref = sum(batch_gradient_matrix(z.double(), y, w, gamma=1.0)
              for z, y, w in batches) / len(batches)
    with precision_context(device, amp):
        ours = sum(batch_gradient_matrix(
            (z.to(amp_dtype(device)) if amp else z).to(device),
            y.to(device), w.to(device),
            gamma=1.0) for z, y, w in batches) / len(batches)
    return relative_error(ours, ref), ref


def _solver_errors(device, n, G, amp) -> Dict[str, float]:
    from cissod_core.gbr import DirectSolver, JacobiSolver, PowerSolver
    errors = {}
    for name, cls in (('power', PowerSolver), ('direct', DirectSolver),
                      ('jacobi', JacobiSolver)):
        def weights(solver, G):  # jacobi's come from fitting its ``a``
            return (solver.fit(G, 200, lr=1 / 6) if name == 'jacobi' else
                    solver.solve(G))

        ref = weights(cls(n).double(), G)  # the references: no autocast
        with precision_context(device, amp):
            ours = weights(cls(n).to(device), G.float().to(device))
        errors[f'solver {name}'] = relative_error(ours, ref)
    return errors


def _gbt_error(device, n, amp) -> float:
    from cissod_core.gbt import ClassScoreMeans, gbt_thresholds
    gen = torch.Generator().manual_seed(5)
    ref_means, means = ClassScoreMeans(n).double(), ClassScoreMeans(n).to(
        device)
    weights = torch.rand(n + 1, generator=gen, dtype=torch.float64) * 2 + 0.5
    batches = [(torch.randint(0, n, (3000, ), generator=gen),
                torch.rand(3000, generator=gen)) for _ in range(20)]
    for labels, scores in batches:  # the references: no autocast
        ref_means.update(labels, scores.double())
    ref = gbt_thresholds(ref_means.mean, ref_means.seen, weights[:n])
    with precision_context(device, amp):
        for labels, scores in batches:
            means.update(labels.to(device), (
                scores.to(amp_dtype(device)) if amp else scores).to(device))
        ours = gbt_thresholds(means.mean, means.seen,
                              weights[:n].float().to(device))
    return relative_error(ours, ref)


def _crs_error(device, n, amp) -> float:
    from cissod_core.crs import (
        crs_class_factors,
        crs_class_frequencies,
        crs_image_factors,
    )
    gen = torch.Generator().manual_seed(6)
    images, k = 20000, 8
    classes = torch.randint(-1, n, (images, k), generator=gen)
    margins = torch.where(classes >= 0, torch.rand(images, k, generator=gen),
                          torch.zeros(()))
    labeled = torch.randint(0, 200, (n, ), generator=gen)
    pool = torch.zeros(n, dtype=torch.long)
    valid = classes[classes >= 0]
    pool.index_add_(0, valid, torch.ones_like(valid))

    def factors(dev, autocast: bool):
        with precision_context(dev, autocast):
            freq = crs_class_frequencies(labeled.to(dev), 1000,
                                         pool.to(dev), images)
            r_c = crs_class_factors(freq, 0.5)
            return crs_image_factors(classes.to(dev), margins.to(dev), r_c)

    return relative_error(factors(device, amp),
                          factors(torch.device('cpu'), False))


def exactness(device: torch.device, rois: int) -> List[dict]:
    """Rows ``{check, C, fp32, autocast}`` of max relative errors against
    float64 CPU references."""
    rows = []
    for n in (80, 1203):
        errors: Dict[str, Dict[bool, float]] = {}
        for amp in (False, True):
            g_err, G = _g_error(device, n, rois, amp)
            found = {'G (focal, gamma 1)': g_err,
                     **_solver_errors(device, n, G, amp),
                     'GbT thresholds': _gbt_error(device, n, amp),
                     'CrS image factors': _crs_error(device, n, amp)}
            for name, err in found.items():
                errors.setdefault(name, {})[amp] = err
        rows += [dict(check=name, C=n + 1, fp32=e[False], autocast=e[True])
                 for name, e in errors.items()]
    return rows


# ------------------------------------------------------------------- bench
def bench_gbr(device: torch.device, repeats: int, sizes: List[int]
              ) -> Tuple[List[dict], str]:
    """Run ``bench/bench_gbr.py`` on ``device``; its ratios per C and its
    output."""
    cmd = [sys.executable, osp.join(REPO, 'bench', 'bench_gbr.py'),
           '--device', device.type, '--repeats', str(repeats),
           '--no-solvers', '--sizes', *map(str, sizes)]
    out = subprocess.run(cmd, check=True, capture_output=True,
                         text=True).stdout
    rows = []
    for section in out.split('\n== C = ')[1:]:
        row = dict(C=int(section.split()[0]))
        for key, pattern in (('b/a', r'^b/a =\s+([\d.]+)'),
                             ('a/c', r'^a/c =\s+([\d.]+)'),
                             ('d/c power', r'^d/c =\s+([\d.]+)\s+\[power\]')):
            row[key] = float(re.search(pattern, section, re.M).group(1))
        rows.append(row)
    return rows, out


# -------------------------------------------------------------- iterations
def make_synthetic_coco(root: str, classes: Tuple[str, ...],
                        image_size: Tuple[int, int],
                        num_images: Tuple[int, int], seed: int = 0) -> None:
    """Labeled (boxes of random classes) and unlabeled COCO files with
    noise images of ``image_size`` (w, h) under ``root/images``."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    w, h = image_size
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    cats = [dict(id=i + 1, name=c) for i, c in enumerate(classes)]
    files = {}
    next_id = 0
    for role, count in zip(('labeled', 'unlabeled'), num_images):
        images, anns = [], []
        for _ in range(count):
            next_id += 1
            name = f'{next_id:06d}.jpg'
            pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(osp.join(root, 'images', name),
                                         quality=80)
            images.append(dict(id=next_id, file_name=name, width=w,
                               height=h))
            for _ in range(rng.integers(1, 8) if role == 'labeled' else 0):
                bw, bh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.1, 0.5) * h
                x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                anns.append(dict(id=len(anns) + 1, image_id=next_id,
                                 category_id=int(rng.integers(1, 81)),
                                 bbox=[x, y, bw, bh], area=bw * bh,
                                 iscrowd=0))
        files[role] = osp.join(root, f'{role}.json')
        with open(files[role], 'w') as f:
            json.dump(dict(images=images, annotations=anns,
                           categories=cats), f)


def scale_pipelines(node, factor: float):
    """``node`` (a config) with every ``scale`` of a resize transform
    multiplied by ``factor`` (toy size)."""
    if isinstance(node, dict):
        out = {k: scale_pipelines(v, factor) for k, v in node.items()}
        if 'Resize' in str(node.get('type', '')) and 'scale' in node:
            out['scale'] = _scaled(node['scale'], factor)
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(scale_pipelines(v, factor) for v in node)
    return node


def _scaled(scale, factor: float):
    if isinstance(scale, (list, tuple)):
        return type(scale)(_scaled(s, factor) for s in scale)
    return max(int(round(scale * factor)), 32)


def iteration_cfg(method: str, data: str, work_dir: str, size: dict,
                  amp: bool, workers: int):
    """The CI-SSOD split1 config of ``method`` on the synthetic data: no
    download, no evaluation or checkpoint, CISSOD's warm-ups shortened so
    that GbR, GbT and CrS act from the first measured iteration."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, CONFIGS[method]))
    total = size['warmup'] + size['measure']
    start = max(size['warmup'] - 1, 1)
    options = {
        'work_dir': work_dir, 'load_from': None, 'log_level': 'WARNING',
        'model.detector.backbone.init_cfg': None,
        'train_cfg.max_iters': total, 'train_cfg.val_interval': 10**9,
        'default_hooks.checkpoint.interval': 10**9,
        'default_hooks.checkpoint.save_last': False,
        'default_hooks.logger.interval': 10**6,
        'train_dataloader.num_workers': workers,
        'train_dataloader.persistent_workers': workers > 0,
    }
    for i, role in enumerate(('labeled', 'unlabeled')):
        key = f'train_dataloader.dataset.datasets.{i}.'
        options.update({key + 'data_root': data,
                        key + 'ann_file': f'{role}.json',
                        key + 'data_prefix': dict(img='images/')})
    options.update(size.get('cfg_options', {}))
    if method == 'cissod':
        options.update({
            'model.detector.roi_head.bbox_head.loss_cls.warmup_iters': start,
            'model.cissod_cfg.ssod_warmup_iters': start})
    cfg.merge_from_dict(options)
    for part in ('val', 'test'):  # no evaluation: no COCO files needed
        for key in ('cfg', 'dataloader', 'evaluator'):
            cfg[f'{part}_{key}'] = None
    if method == 'cissod':  # the CrS factors are updated in the measure
        for hook in cfg.custom_hooks:
            if hook['type'] == 'ClassRebalancingHook':
                hook['interval'] = max(size['measure'] // 3, 1)
    cfg.train_dataloader = scale_pipelines(cfg.train_dataloader,
                                           size['scale'])
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    return cfg


class IterationTimer:
    """Two hooks around every training iteration (the model step and every
    ``after_train_iter`` hook: EMA, GbR solve, CrS update, logging); the
    teacher's second pass is timed by wrapping ``teacher_detections``.

    ``before_train`` also makes the randomly initialised RoI classifiers
    confident in one class, so that the teacher yields pseudo labels at
    every threshold (a trained teacher's load; the upper end of it).
    """

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.iter_s: List[float] = []
        self.second_pass_s: List[float] = []
        self._start = 0.0
        self.peak_bytes = 0

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def hooks(self) -> List[Tuple[object, str]]:
        from mmengine.hooks import Hook
        timer = self

        class Start(Hook):
            def before_train(self, runner):
                timer.make_teacher_confident(runner.model)

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                if runner.iter == timer.warmup and \
                        timer.device.type == 'cuda':
                    torch.cuda.reset_peak_memory_stats(timer.device)
                timer._sync()
                timer._start = time.perf_counter()

        class End(Hook):
            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                timer._sync()
                if runner.iter >= timer.warmup:
                    timer.iter_s.append(time.perf_counter() - timer._start)

        return [(Start(), 'HIGHEST'), (End(), 'LOWEST')]

    @staticmethod
    def make_teacher_confident(model: torch.nn.Module) -> None:
        model = getattr(model, 'module', model)
        for detector in (model.student, model.teacher):
            bias = detector.roi_head.bbox_head.fc_cls.bias
            with torch.no_grad():
                bias.zero_()
                bias[0] = 8.0

    @contextlib.contextmanager
    def second_pass(self, cls) -> Iterator[None]:
        """Time ``cls.teacher_detections`` (if it has one) while inside."""
        original = getattr(cls, 'teacher_detections', None)
        if original is None or 'CISSOD' not in cls.__name__:
            yield
            return
        timer = self

        def timed(model, *args, **kwargs):
            timer._sync()
            start = time.perf_counter()
            result = original(model, *args, **kwargs)
            timer._sync()
            if model.current_iter >= timer.warmup:
                timer.second_pass_s.append(time.perf_counter() - start)
            return result

        cls.teacher_detections = timed
        try:
            yield
        finally:
            cls.teacher_detections = original


def measure(method: str, device: torch.device, size: dict, amp: bool,
            data: str, workers: int) -> dict:
    """One timed training run (in this process): its iteration times."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import cissod  # noqa: F401  (registers the components)
    init_default_scope('mmdet')
    with tempfile.TemporaryDirectory() as work_dir:
        cfg = iteration_cfg(method, data, work_dir, size, amp, workers)
        runner = Runner.from_cfg(cfg)
        timer = IterationTimer(size['warmup'], device)
        for hook, priority in timer.hooks():
            runner.register_hook(hook, priority)
        with timer.second_pass(MODELS.get(cfg.model.type)):
            runner.train()
    if device.type == 'cuda':
        timer.peak_bytes = torch.cuda.max_memory_allocated(device)
    median = statistics.median(timer.iter_s)
    share = sum(timer.second_pass_s) / sum(timer.iter_s)
    return dict(method=method, amp=amp, iters=len(timer.iter_s),
                median_s=median, peak_gib=timer.peak_bytes / 2**30,
                second_pass_share=share if timer.second_pass_s else None)


def time_iterations(device: torch.device, size_name: str, amps: List[bool],
                    workers: int, data: str) -> List[dict]:
    """One subprocess per (precision, method): ``--measure``'s JSON rows,
    with the CISSOD / Soft Teacher ratio."""
    rows = []
    for amp in amps:
        found = {}
        for method in ('soft_teacher', 'cissod'):
            with tempfile.NamedTemporaryFile(suffix='.json') as out:
                cmd = [sys.executable, osp.abspath(__file__), '--measure',
                       method, '--device', device.type, '--size', size_name,
                       '--data', data, '--workers', str(workers),
                       '--json', out.name] + (['--amp'] if amp else [])
                res = subprocess.run(cmd, cwd=REPO, capture_output=True,
                                     text=True)
                if res.returncode != 0:
                    raise RuntimeError(f'{" ".join(cmd)} failed:\n'
                                       f'{res.stderr[-4000:]}')
                found[method] = json.load(open(out.name))
        found['cissod']['ratio'] = (found['cissod']['median_s'] /
                                    found['soft_teacher']['median_s'])
        rows += [found['soft_teacher'], found['cissod']]
    return rows


# ----------------------------------------------------------------- summary
def summary_table(header: dict, exact: List[dict], bench: List[dict],
                  iters: List[dict]) -> str:
    """The printed and written result, markdown tables."""
    lines = [f"# GPU check: {header['device']}", '',
             ', '.join(f'{k} {v}' for k, v in header.items()
                       if k != 'device'), '',
             '## Exactness (max relative error vs float64 on the CPU)', '',
             '| check | C | fp32 | autocast |', '|---|---:|---:|---:|']
    lines += [f"| {r['check']} | {r['C']} | {r['fp32']:.1e} | "
              f"{r['autocast']:.1e} |" for r in exact]
    lines += ['', '## bench/bench_gbr.py ratios', '',
              '| C | b/a (naive G / ours) | a/c (G / CE fwd+bwd) | '
              'd/c (GbR iteration, power / CE) |', '|---:|---:|---:|---:|']
    lines += [f"| {r['C']} | {r['b/a']:.1f} | {r['a/c']:.3f} | "
              f"{r['d/c power']:.3f} |" for r in bench]
    lines += ['', '## Full-size iteration (CI-SSOD COCO split1 config, '
              '1 labeled + 4 unlabeled images)', '',
              '| method | precision | s / iter (median) | CISSOD / ST | '
              'peak GPU memory GiB | second RPN + RoI pass |',
              '|---|---|---:|---:|---:|---:|']
    for r in iters:
        ratio = f"{r['ratio']:.3f}" if 'ratio' in r else '-'
        share = (f"{100 * r['second_pass_share']:.1f} %"
                 if r['second_pass_share'] is not None else '-')
        lines.append(f"| {r['method']} | {'AMP' if r['amp'] else 'fp32'} | "
                     f"{r['median_s']:.3f} ({r['iters']} iters) | {ratio} | "
                     f"{r['peak_gib']:.1f} | {share} |")
    return '\n'.join(lines) + '\n'


def environment(device: torch.device) -> dict:
    import mmcv
    import mmdet
    import mmengine
    name = (torch.cuda.get_device_name(device) if device.type == 'cuda' else
            f'CPU ({os.cpu_count()} cores)')
    return dict(device=name, torch=torch.__version__,
                cuda=torch.version.cuda, mmcv=mmcv.__version__,
                mmengine=mmengine.__version__, mmdet=mmdet.__version__,
                numpy=np.__version__)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--size', default='full', choices=sorted(SIZES))
    parser.add_argument('--out', help='also write the summary table here')
    parser.add_argument('--workers', type=int, default=None,
                        help='dataloader workers (default: the config\'s 5 '
                        'on CUDA, 0 on the CPU)')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['exactness', 'bench', 'iterations'])
    # one timed run, as time_iterations starts it
    parser.add_argument('--measure', choices=sorted(CONFIGS),
                        help=argparse.SUPPRESS)
    parser.add_argument('--amp', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--data', help=argparse.SUPPRESS)
    parser.add_argument('--json', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('gpu_check: --device cuda but torch sees no GPU '
                         f'(torch {torch.__version__}); --device cpu runs '
                         'the toy check on the CPU')
    size = SIZES[args.size]
    workers = args.workers if args.workers is not None else (
        5 if device.type == 'cuda' else 0)
    if args.measure:
        row = measure(args.measure, device, size, args.amp, args.data,
                      workers)
        with open(args.json, 'w') as f:
            json.dump(row, f)
        return ''
    sections = run_sections(args, device, size, workers)
    table = summary_table(environment(device), *sections)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table)
    return table


def run_sections(args, device: torch.device, size: dict, workers: int
                 ) -> Tuple[List[dict], List[dict], List[dict]]:
    """Steps 2-4, each timed on stdout; a skipped one gives no rows."""
    def step(name: str, fn: Callable[[], List[dict]]) -> List[dict]:
        if name in args.skip:
            return []
        start = time.perf_counter()
        rows = fn()
        print(f'[gpu_check] {name}: {time.perf_counter() - start:.0f} s',
              flush=True)
        return rows

    exact = step('exactness', lambda: exactness(device, size['rois']))
    bench = step('bench', lambda: bench_gbr(
        device, size['repeats'], [80] if args.size == 'toy' else
        [80, 1203])[0])
    with tempfile.TemporaryDirectory() as data:
        def iterations() -> List[dict]:
            from mmengine.config import Config
            classes = Config.fromfile(osp.join(
                REPO, CONFIGS['cissod'])).metainfo['classes']
            make_synthetic_coco(data, classes, size['image'], size['images'])
            amps = [False, True] if device.type == 'cuda' else [False]
            return time_iterations(device, args.size, amps, workers, data)

        iters = step('iterations', iterations)
    return exact, bench, iters


if __name__ == '__main__':
    main()
