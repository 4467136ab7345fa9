"""tools/analysis/compare_runs.py reads the checkpoint of a work dir that
was moved after training (mmengine's ``last_checkpoint`` holds an absolute
path)."""
import os.path as osp

import torch

from cissod.analysis import compare_runs


def _write_run(work_dir, pointer_target):
    torch.save(dict(state_dict=dict(
        pseudo_label_counts=torch.tensor([4, 0, 7]))),
        osp.join(work_dir, 'iter_10.pth'))
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(pointer_target)


def test_counts_of_a_run_in_place(tmp_path):
    _write_run(str(tmp_path), str(tmp_path / 'iter_10.pth'))
    assert compare_runs.load_pseudo_label_counts(str(tmp_path)) == [4, 0, 7]


def test_counts_of_a_moved_run(tmp_path):
    # trained in old/run, then moved: the pointer names a missing file
    _write_run(str(tmp_path), '/nonexistent/old/run/iter_10.pth')
    assert compare_runs.load_pseudo_label_counts(str(tmp_path)) == [4, 0, 7]


def test_no_checkpoint_gives_none(tmp_path):
    assert compare_runs.load_pseudo_label_counts(str(tmp_path)) is None
