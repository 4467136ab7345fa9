"""``cissod_core`` imports no mmdet, mmengine or mmcv (the pure core)."""
import ast
import os
import os.path as osp
import subprocess
import sys
import textwrap

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CORE = osp.join(REPO, 'cissod_core')
FORBIDDEN = ('mmdet', 'mmengine', 'mmcv', 'cissod')


def _core_files():
    for root, _, files in os.walk(CORE):
        for name in sorted(files):
            if name.endswith('.py'):
                yield osp.join(root, name)


def _imported_roots(path: str):
    """Top-level package of every import statement of a file (any depth,
    also inside functions)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.lineno, (node.module or '').split('.')[0]


def test_core_has_no_openmmlab_import_statement():
    files = list(_core_files())
    assert len(files) > 15  # the scan sees the package
    bad = [f'{osp.relpath(p, REPO)}:{line} imports {root}'
           for p in files for line, root in _imported_roots(p)
           if root in FORBIDDEN]
    assert not bad, 'cissod_core must stay pure:\n' + '\n'.join(bad)


def test_core_imports_and_runs_with_openmmlab_blocked():
    """Every module of cissod_core imports in a process where importing
    mmdet / mmengine / mmcv / cissod raises, and the three modules run."""
    code = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        for name in {FORBIDDEN!r}:
            sys.modules[name] = None  # any import of them raises
        import cissod_core
        names = [m.name for m in pkgutil.walk_packages(
            cissod_core.__path__, 'cissod_core.')]
        for name in names:
            importlib.import_module(name)
        import torch
        from cissod_core.crs import ClassRebalancer, PseudoLabelBatch
        from cissod_core.gbr import GradientBalancer, JacobiSolver
        from cissod_core.gbt import ClassThresholds
        bal = GradientBalancer(3, warmup_iters=0, solver=JacobiSolver)
        bal.record(torch.randn(8, 4), torch.randint(0, 4, (8,)))
        bal.step()
        ct = ClassThresholds(3, tau=0.9, tau_min=0.5)
        ct.update(torch.tensor([0, 1]), torch.tensor([0.6, 0.95]))
        rb = ClassRebalancer([11, 12], [[0], [0, 1]], 3)
        rb.record([PseudoLabelBatch(
            img_ids=[12], box_image=torch.tensor([0]),
            labels=torch.tensor([2]), margins=torch.tensor([0.05]),
            thresholds=ct.thresholds().float(),
            num_candidates=torch.tensor([0, 0, 1]))], rows_per_batch=1)
        print('ok', len(names), float(rb.update(1, 1).max()))
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('ok')
