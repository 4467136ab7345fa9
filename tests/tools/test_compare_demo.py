"""tools/compare_demo.py: run order, per-seed burn-ins, skipping evaluated
runs and the mean +- std table, with train/test replaced by fakes that
write what the real tools write (no training)."""
import importlib.util
import json
import os
import os.path as osp
import threading

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_driver():
    spec = importlib.util.spec_from_file_location(
        'compare_demo', osp.join(REPO, 'tools', 'compare_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_run(calls, lock):
    """Stand-in for ``compare_demo._run``: a train call writes a checkpoint
    and ``last_checkpoint``, a test call writes a metrics JSON."""

    def run(cmd, log_path, env):
        with lock:
            calls.append((list(cmd), dict(env)))
        work_dir = cmd[cmd.index('--work-dir') + 1]
        os.makedirs(work_dir, exist_ok=True)
        if 'tools/train.py' in cmd:
            seed = int([o for o in cmd if o.startswith('randomness.seed=')
                        ][0].split('=')[1])
            ckpt = osp.join(work_dir, 'iter_1.pth')
            counts = torch.tensor([10 + seed, seed])
            torch.save({'state_dict': {'pseudo_label_counts': counts}}, ckpt)
            with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
                f.write(ckpt)
        else:
            run_dir = osp.dirname(work_dir)
            seed = int(osp.basename(osp.dirname(run_dir))[len('seed'):])
            ap = 0.5 + 0.01 * seed + (0.1 if 'cissod' in run_dir else 0.0)
            out = osp.join(work_dir, '20260101_000000')
            os.makedirs(out, exist_ok=True)
            metrics = {'coco/bbox_mAP': ap, 'coco/bbox_majority_mAP': ap,
                       'coco/bbox_minority_mAP': ap,
                       'coco/bbox_AP_a': ap, 'coco/bbox_AP_b': ap}
            with open(osp.join(out, '20260101_000000.json'), 'w') as f:
                f.write(json.dumps(metrics) + '\n')

    return run


def test_compare_driver_order_options_skip_and_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # main() changes into the repo; restored
    driver = _load_driver()
    calls, lock = [], threading.Lock()
    monkeypatch.setattr(driver, '_run', _fake_run(calls, lock))
    out = str(tmp_path / 'compare')
    args = ['--seeds', '0', '1', '--runs', 'soft_teacher', 'cissod',
            '--jobs', '2', '--out', out]
    assert driver.main(args) == 0
    trains = [c for c, _ in calls if 'tools/train.py' in c]
    assert len(trains) == 6  # 2 burn-ins + 2 x 2 semi-supervised runs
    for cmd, env in calls:
        assert env['OMP_NUM_THREADS'] == '1'  # whatever --jobs is
    for cmd in trains:
        work_dir = cmd[cmd.index('--work-dir') + 1]
        seed = osp.basename(osp.dirname(work_dir))
        options = cmd[cmd.index('--cfg-options') + 1:]
        assert f'randomness.seed={seed[len("seed"):]}' in options
        if osp.basename(work_dir) == 'supervised':
            assert not any(o.startswith('load_from=') for o in options)
        else:  # starts from the burn-in of its own seed
            burn_in = osp.join(out, seed, 'supervised', 'iter_1.pth')
            assert f'load_from={burn_in}' in options
    table = open(osp.join(out, 'compare.md')).read()
    # AP 0.5 / 0.51 (supervised), 0.6 / 0.61 (cissod): mean +- sample std
    assert '| supervised burn-in (labeled only) | 50.5 +- 0.7 |' in table
    assert '| CISSOD (reference) | 60.5 +- 0.7 |' in table
    assert 'pseudo labels' in table

    # a second call keeps every evaluated run and trains nothing
    calls.clear()
    assert driver.main(args) == 0
    assert calls == []


def test_framework_runs_start_from_their_burn_in(tmp_path, monkeypatch):
    """make compare-frameworks: the RetinaNet runs of the second framework
    start from the RetinaNet burn-in, the Faster R-CNN ones from the
    supervised burn-in; each burn-in row precedes its runs."""
    monkeypatch.chdir(tmp_path)
    driver = _load_driver()
    calls, lock = [], threading.Lock()
    monkeypatch.setattr(driver, '_run', _fake_run(calls, lock))
    out = str(tmp_path / 'compare')
    runs = list(driver.FRAMEWORK_RUNS)
    assert driver.main(['--seeds', '0', '--runs', *runs, '--jobs', '2',
                        '--out', out]) == 0
    trains = {}
    for cmd, _ in calls:
        if 'tools/train.py' in cmd:
            work_dir = cmd[cmd.index('--work-dir') + 1]
            options = cmd[cmd.index('--cfg-options') + 1:]
            load = [o for o in options if o.startswith('load_from=')]
            trains[osp.basename(work_dir)] = (cmd[cmd.index('tools/train.py')
                                                  + 1], load)
    assert set(trains) == {'supervised', 'supervised_retinanet', *runs}
    assert trains['supervised_retinanet'] == (
        'configs/demo/retinanet_sup_demo.py', [])
    for run in runs:
        config, load = trains[run]
        assert config == driver.RUNS[run][0]
        burn_in = ('supervised_retinanet' if 'retinanet' in run
                   else 'supervised')
        assert load == [
            f'load_from={osp.join(out, "seed0", burn_in, "iter_1.pth")}']
    table = open(osp.join(out, 'compare.md')).read()
    labels = [driver.RUNS[r][1] for r in driver.row_order(driver.RUNS, runs)]
    assert labels[:4] == ['supervised burn-in (labeled only)',
                          'Soft Teacher', 'CISSOD (reference)',
                          'Mean Teacher (hard pseudo labels)']
    assert labels[5] == 'supervised burn-in, RetinaNet (labeled only)'
    positions = [table.index(f'| {label} |') for label in labels]
    assert positions == sorted(positions)
