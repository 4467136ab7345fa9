"""A diverging run stops at its first non-finite loss, without a NaN
checkpoint and without touching the last good one (NonFiniteLossHook)."""
import glob
import hashlib
import math
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO, demo_cfg
from mmengine.logging import MessageHub

from cissod.engine.hooks import (
    NonFiniteLossError,
    NonFiniteLossHook,
    non_finite_terms,
)
from cissod.utils import load_checkpoint_file


def _runner(iteration=6, grad_norm=None, last_ckpt=None):
    hub = MessageHub(f'non_finite_{iteration}_{grad_norm}_{last_ckpt}')
    if grad_norm is not None:
        hub.update_scalar('train/grad_norm', grad_norm)
    if last_ckpt:
        hub.update_info('last_ckpt', last_ckpt)
    return SimpleNamespace(iter=iteration, message_hub=hub)


def test_non_finite_terms_names_only_the_bad_ones():
    outputs = dict(loss=torch.tensor(float('nan')),
                   loss_cls=torch.tensor(0.3), loss_bbox=float('inf'),
                   acc=torch.tensor([1.0, 2.0]))
    assert non_finite_terms(outputs).keys() == {'loss', 'loss_bbox'}


def test_hook_raises_with_iteration_terms_causes_and_last_checkpoint():
    hook = NonFiniteLossHook()
    assert hook.priority == 'ABOVE_NORMAL' and hook.interval == 1
    runner = _runner(iteration=6, last_ckpt='/w/iter_4.pth')
    with pytest.raises(NonFiniteLossError) as err:
        hook.after_train_iter(runner, 6, outputs=dict(
            loss=torch.tensor(float('nan')), loss_cls=torch.tensor(0.2),
            unsup_loss_bbox=torch.tensor(float('inf'))))
    msg = str(err.value)
    assert 'non-finite training loss at iteration 7: loss=nan, ' \
           'unsup_loss_bbox=inf.' in msg
    assert 'loss_cls' not in msg
    assert 'a learning rate too high' in msg and '--amp' in msg \
        and 'bad boxes' in msg
    assert 'the last good checkpoint is /w/iter_4.pth' in msg


def test_hook_catches_a_finite_loss_with_a_nan_gradient_norm():
    hook = NonFiniteLossHook()
    with pytest.raises(NonFiniteLossError, match='grad_norm=nan'):
        hook.after_train_iter(_runner(grad_norm=float('nan')), 0,
                              outputs=dict(loss=torch.tensor(1.0)))
    hook.after_train_iter(_runner(grad_norm=3.0), 0,
                          outputs=dict(loss=torch.tensor(1.0)))


def test_hook_refuses_to_save_a_non_finite_model():
    hook = NonFiniteLossHook()
    good = dict(state_dict=dict(w=torch.ones(2), n=torch.tensor(3)))
    hook.before_save_checkpoint(_runner(), good)
    bad = dict(state_dict=dict(w=torch.tensor([1.0, float('nan')])))
    with pytest.raises(NonFiniteLossError,
                       match='refusing to save the checkpoint of iteration 6'
                       r': 1 model tensors are not finite \(e.g. w\)'):
        hook.before_save_checkpoint(_runner(), bad)


def test_every_config_family_has_the_hook(demo_data_root, tmp_path):
    for config in ('configs/demo/faster-rcnn_sup_demo.py',
                   'configs/demo/cissod_demo.py',
                   'configs/demo/mean_teacher_retinanet_demo.py'):
        cfg = demo_cfg(config, demo_data_root, str(tmp_path))
        assert cfg.default_hooks.check_loss.type == 'NonFiniteLossHook'


def _digest(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _train(cfg_file: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/train.py'), cfg_file,
         '--cfg-options', *options], cwd=REPO, capture_output=True,
        text=True, timeout=900)


def test_diverging_run_stops_through_tools_train(demo_data_root, tmp_path):
    """``--cfg-options optim_wrapper.optimizer.lr=1e6`` on the demo: the
    run ends at its first non-finite iteration with the message, exit code
    non-zero; every checkpoint on disk is finite and the good one from
    before is byte for byte the same."""
    cfg = demo_cfg('configs/demo/faster-rcnn_sup_demo.py', demo_data_root,
                   str(tmp_path), max_iters=2)
    cfg_file = str(tmp_path / 'sup.py')
    cfg.dump(cfg_file)
    good = _train(cfg_file, 'log_level=INFO')
    assert good.returncode == 0, good.stderr[-3000:]
    kept = str(tmp_path / 'iter_2.pth')
    digest = _digest(kept)

    bad = _train(cfg_file, 'optim_wrapper.optimizer.lr=1e6',
                 'train_cfg.max_iters=30',
                 'default_hooks.checkpoint.interval=10',
                 'param_scheduler=[]')
    assert bad.returncode != 0
    out = bad.stdout + bad.stderr
    assert 'NonFiniteLossError' in out, out[-3000:]
    assert 'non-finite training loss at iteration' in out or \
        'refusing to save the checkpoint' in out, out[-3000:]
    assert 'Likely causes: a learning rate too high' in out
    assert _digest(kept) == digest
    for path in glob.glob(str(tmp_path / 'iter_*.pth')):
        state = load_checkpoint_file(path)['state_dict']
        assert all(math.isfinite(float(t.float().abs().max()))
                   for t in state.values()
                   if t.is_floating_point() and t.numel()), path


def _wrapper(lr=0.1):
    from cissod.engine.optimizers import SkipNonFiniteOptimWrapper
    MessageHub.get_instance('skip_non_finite_test')
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, SkipNonFiniteOptimWrapper(optimizer)


def test_skip_wrapper_leaves_parameters_and_momentum_on_a_nan_gradient():
    model, wrapper = _wrapper()
    wrapper.update_params(model(torch.ones(4, 3)).sum())
    assert wrapper.num_skipped_steps == 0
    params = [p.detach().clone() for p in model.parameters()]
    momentum = [wrapper.optimizer.state[p]['momentum_buffer'].clone()
                for p in model.parameters()]
    x = torch.ones(4, 3)
    x[0, 0] = float('nan')
    wrapper.update_params(model(x).sum())
    assert wrapper.num_skipped_steps == 1
    for p, before in zip(model.parameters(), params):
        assert torch.equal(p.detach(), before)
        assert p.grad is None or not p.grad.any()  # zeroed for the next step
    for p, before in zip(model.parameters(), momentum):
        assert torch.equal(wrapper.optimizer.state[p]['momentum_buffer'],
                           before)
    assert wrapper.message_hub.get_scalar(
        'train/num_skipped_steps').current() == 1
    # a finite step afterwards updates again
    wrapper.update_params(model(torch.ones(4, 3)).sum())
    assert wrapper.num_skipped_steps == 1
    assert not torch.equal(next(model.parameters()).detach(), params[0])


def test_skip_wrapper_keeps_its_count_in_the_checkpoint():
    model, wrapper = _wrapper()
    wrapper.num_skipped_steps = 3
    state = wrapper.state_dict()
    assert state['num_skipped_steps'] == 3
    _, other = _wrapper()
    other.load_state_dict(state)
    assert other.num_skipped_steps == 3


def test_gradients_finite_sees_nan_and_inf_in_any_parameter():
    from cissod.engine.optimizers import gradients_finite
    params = [torch.nn.Parameter(torch.zeros(5)) for _ in range(3)]
    assert gradients_finite(params)  # no gradients yet
    for p in params:
        p.grad = torch.full_like(p, 1e38)
    assert gradients_finite(params)  # large but finite: no overflow
    params[2].grad[4] = float('inf')
    assert not gradients_finite(params)
    params[2].grad[4] = float('nan')
    assert not gradients_finite(params)


def test_keep_going_hook_warns_and_needs_a_skipping_wrapper():
    from mmengine.optim import OptimWrapper
    hook = NonFiniteLossHook(keep_going=True)
    warnings = []
    runner = _runner()
    runner.logger = SimpleNamespace(warning=warnings.append)
    hook.after_train_iter(runner, 6, outputs=dict(
        loss=torch.tensor(float('nan'))))
    assert warnings and 'iteration 7: loss=nan; the optimizer step is ' \
        'skipped' in warnings[0]
    model, skipping = _wrapper()
    hook.before_train(SimpleNamespace(optim_wrapper=skipping))
    plain = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="optim_wrapper.type="
                       "'SkipNonFiniteOptimWrapper'.*--skip-non-finite"):
        hook.before_train(SimpleNamespace(optim_wrapper=plain))
    NonFiniteLossHook().before_train(SimpleNamespace(optim_wrapper=plain))


def test_skip_non_finite_goes_on_with_the_weights_untouched(
        demo_data_root, tmp_path):
    """A loss that is NaN at every step (a NaN loss weight): without the
    flag the run stops at iteration 1; with --skip-non-finite it runs to
    the end, every step skipped, and the parameters at iteration 2 and 4
    are the same (only BatchNorm statistics move in forward)."""
    cfg = demo_cfg('configs/demo/faster-rcnn_sup_demo.py', demo_data_root,
                   str(tmp_path), max_iters=4,
                   **{'default_hooks.checkpoint.interval': 2,
                      'default_hooks.checkpoint.max_keep_ckpts': -1})
    cfg_file = str(tmp_path / 'sup.py')
    cfg.dump(cfg_file)
    # outside the work dir, where the runner dumps the config it runs
    (tmp_path / 'configs').mkdir()
    nan_file = str(tmp_path / 'configs' / 'sup_nan.py')
    with open(nan_file, 'w') as f:
        f.write(f"_base_ = '{cfg_file}'\nmodel = dict(roi_head=dict(bbox_head="
                "dict(loss_bbox=dict(loss_weight=float('nan')))))\n")
    stop = _train(nan_file, 'log_level=INFO')
    assert stop.returncode != 0
    assert 'non-finite training loss at iteration 1: loss=nan' in \
        stop.stderr, stop.stderr[-3000:]
    assert 'tools/train.py --skip-non-finite' in stop.stderr

    res = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/train.py'), nan_file,
         '--skip-non-finite'], cwd=REPO, capture_output=True, text=True,
        timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'the optimizer step is skipped' in res.stdout + res.stderr
    ckpts = [load_checkpoint_file(str(tmp_path / f'iter_{i}.pth'))
             for i in (2, 4)]
    assert ckpts[1]['optimizer']['num_skipped_steps'] == 4
    params = [k for k in ckpts[0]['state_dict']
              if 'running_' not in k and 'num_batches' not in k]
    assert len(params) > 50
    for k in params:
        assert torch.equal(ckpts[0]['state_dict'][k],
                           ckpts[1]['state_dict'][k]), k
