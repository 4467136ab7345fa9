"""Train a detector with a cissod (or any mmdet 3.x) config.

Same command line as mmdet's ``tools/train.py``::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]

plus ``--check-only`` (run the data checks and exit) and
``--skip-non-finite`` (skip non-finite steps instead of stopping).

Before the runner is built, :func:`cissod.utils.check_config` verifies that
the annotation files exist (and says how to make them), that the configured
classes are in the annotation files and that ``num_classes`` matches them.
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from cissod.engine import teardown_distributed
from cissod.utils import check_config, load_cli_config, setup_cissod_env


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true',
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--skip-non-finite', action='store_true',
        help='skip optimizer steps with a non-finite loss or gradient (a '
        'warning each) instead of stopping the run')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=10')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument(
        '--no-check', action='store_true',
        help='skip the data/num_classes checks run before training')
    parser.add_argument(
        '--check-only', action='store_true',
        help='run the data checks (every image header included) and exit')
    parser.add_argument(
        '--no-header-check', action='store_true',
        help='check only that image files exist and are not empty, without '
        'reading their headers (about 1 s per 10,000 images)')
    # torch.distributed.launch passes --local-rank / --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides."""
    cfg = load_cli_config(args.config, args.launcher, args.cfg_options,
                          args.work_dir)
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        else:
            assert wrapper == 'OptimWrapper', (
                f'--amp supports only OptimWrapper, the config has {wrapper}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.skip_non_finite:
        cfg.setdefault('default_hooks', {})['check_loss'] = dict(
            type='NonFiniteLossHook', keep_going=True)
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
            cfg.optim_wrapper.type = 'SkipNonFiniteOptimWrapper'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
                cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs `auto_scale_lr = '
                               'dict(enable=..., base_batch_size=...)` in '
                               'the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main() -> None:
    args = parse_args()
    setup_cissod_env()
    cfg = build_cfg(args)
    if args.check_only and (args.no_check or args.no_header_check):
        raise SystemExit('--check-only runs the full checks: drop '
                         '--no-check / --no-header-check')
    if not args.no_check:
        check_config(cfg, modes=('train', 'val'),
                     read_headers=not args.no_header_check)
    if args.check_only:
        print(f'[cissod] data checks passed: {args.config}')
        return
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    teardown_distributed()


if __name__ == '__main__':
    main()
