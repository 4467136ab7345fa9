"""Evaluate a checkpoint with a cissod (or any mmdet 3.x) config.

Same command line as mmdet's ``tools/test.py``::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show] [--show-dir DIR] [--cfg-options k=v ...] [--launcher pytorch]

For any COCO-style config (ours or a plain mmdet one), ``--minority A B ...``
(the other classes are the majority) or ``--class-groups name=A,B ...``
reports AP over every class group besides AP over all classes, and the
per-class table, from the same evaluation pass (``GroupCocoMetric``).
The groups follow the config's evaluation rules: on the LVIS configs
(``federated=True``) AP, APr / APc / APf and the groups are all LVIS'
federated AP with 300 detections per image.

Semi-supervised configs evaluate the model named by
``semi_test_cfg.predict_on`` (the teacher by default). The metrics are
printed and, with ``--work-dir`` (or the config's default work dir), saved as
JSON by mmengine.
"""
import argparse
import os
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from cissod.engine import teardown_distributed
from cissod.utils import check_config, load_cli_config, setup_cissod_env


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics')
    parser.add_argument(
        '--out', type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory (inside the work dir timestamp folder) where '
        'painted images are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    groups = parser.add_mutually_exclusive_group()
    groups.add_argument(
        '--minority', nargs='+', metavar='CLASS',
        help='minority class names: AP over all / majority (the other '
        'classes) / minority and per class')
    groups.add_argument(
        '--class-groups', nargs='+', metavar='NAME=A,B',
        help='class groups by name, e.g. rare=cat,dog frequent=person')
    parser.add_argument(
        '--no-header-check', action='store_true',
        help='check only that image files exist and are not empty, without '
        'reading their headers (about 1 s per 10,000 images)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> Config:
    """Switch on ``DetVisualizationHook`` drawing for --show/--show-dir."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need `visualization=dict('
                           "type='DetVisualizationHook')` in default_hooks")
    hooks.visualization.draw = True
    if args.show:
        hooks.visualization.show = True
        hooks.visualization.wait_time = args.wait_time
    if args.show_dir:
        hooks.visualization.test_out_dir = args.show_dir
    return cfg


def parse_class_groups(args: argparse.Namespace,
                       classes: Sequence[str]) -> Optional[Dict[str, list]]:
    """``{group: [class, ...]}`` from --minority / --class-groups."""
    if args.minority:
        minority = list(args.minority)
        return dict(majority=[c for c in classes if c not in minority],
                    minority=minority)
    if args.class_groups:
        groups = {}
        for item in args.class_groups:
            name, sep, members = item.partition('=')
            if not sep or not name or not members:
                raise ValueError(f'--class-groups {item!r}: use NAME=A,B,C')
            groups[name] = [c for c in members.split(',') if c]
        return groups
    return None


def set_class_groups(cfg: Config, groups: Dict[str, list]) -> None:
    """Make the test evaluator a ``GroupCocoMetric`` with ``groups`` (a
    ``CocoMetric`` keeps all its settings)."""
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        raise ValueError('--minority / --class-groups need a single '
                         'test_evaluator')
    if evaluator.get('type') not in ('CocoMetric', 'GroupCocoMetric'):
        raise ValueError(
            f'--minority / --class-groups work with a CocoMetric test '
            f'evaluator; the config has {evaluator.get("type")}')
    evaluator.type = 'GroupCocoMetric'
    evaluator.class_groups = groups
    evaluator.classwise = True


def _test_classes(cfg: Config) -> Sequence[str]:
    from mmdet.registry import DATASETS
    dataset = cfg.test_dataloader.dataset
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes:
        return list(classes)
    ds_cls = DATASETS.get(dataset.type)
    return list(getattr(ds_cls, 'METAINFO', {}).get('classes', ()))


def main() -> None:
    args = parse_args()
    setup_cissod_env()
    cfg = load_cli_config(args.config, args.launcher, args.cfg_options,
                          args.work_dir)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} not found')
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = enable_visualization(cfg, args)
    groups = parse_class_groups(args, _test_classes(cfg))
    if groups is not None:
        set_class_groups(cfg, groups)
    check_config(cfg, modes=('test', ), read_headers=not args.no_header_check)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), \
            '--out must be a .pkl file'
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    runner.test()
    teardown_distributed()


if __name__ == '__main__':
    main()
