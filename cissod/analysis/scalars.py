"""Read the scalars mmengine's ``LocalVisBackend`` logged during training."""
import glob
import json
import os.path as osp
from typing import Dict, List, Tuple

__all__ = ['find_scalar_files', 'load_scalars', 'scalar_series']


def find_scalar_files(work_dir: str) -> List[str]:
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` of every run in the
    work dir, oldest first (a resumed run adds a timestamp dir)."""
    return sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))


def load_scalars(work_dir: str) -> List[dict]:
    """Every JSON line of every ``scalars.json`` of ``work_dir``, oldest run
    first. Raises FileNotFoundError when there is none."""
    paths = find_scalar_files(work_dir)
    if not paths:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/scalars.json under {work_dir}: is it '
            'a training work dir?')
    records = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
    return records


def scalar_series(records: List[dict], prefix: str
                  ) -> Dict[str, Tuple[List[int], List[float]]]:
    """``{suffix: (steps, values)}`` for every key ``prefix + suffix``, in
    order of first appearance; a step logged again (resumed run) keeps the
    last value. An exact key (``prefix`` without trailing ``/``) gives
    ``{'': ...}`` when logged."""
    by_key: Dict[str, Dict[int, float]] = {}
    for rec in records:
        step = int(rec.get('step', rec.get('iter', 0)))
        for key, value in rec.items():
            if key == prefix or (prefix.endswith('/')
                                 and key.startswith(prefix)):
                by_key.setdefault(key[len(prefix):], {})[step] = float(value)
    return {k: (sorted(v), [v[s] for s in sorted(v)])
            for k, v in by_key.items()}
