"""The software stacks cissod supports, checked at ``import cissod``.

Two stacks are supported (docs/install.md):

* **current**: torch >= 2.6 with the maintained OpenMMLab continuation
  (``onedl-mmengine`` >= 0.10.8, ``onedl-mmcv`` >= 2.3, ``onedl-mmdetection``
  >= 3.4; import names ``mmengine`` / ``mmcv`` / ``mmdet``);
* **classic**: torch 2.0 - 2.5 with upstream ``mmengine`` 0.10.x, ``mmcv``
  2.0 - 2.1 and ``mmdet`` 3.3.

The line between them is torch 2.6: it made ``torch.load(weights_only=True)``
the default, which only mmengine >= 0.10.8 handles (``--resume``).
Versions are read from the installed distributions, without importing mmdet
(mmdet 3.3.0 asserts its own mmcv range on import), so a wrong stack fails
here with one message. ``CISSOD_SKIP_STACK_CHECK=1`` skips the check (a
source build of a fork, say).
"""
import os
from importlib import metadata
from importlib.util import find_spec
from typing import Dict, Optional, Tuple

#: (name, lowest, below) of each supported stack; ``below`` is exclusive.
Range = Tuple[Tuple[int, ...], Optional[Tuple[int, ...]]]
STACKS: Dict[str, Dict[str, Range]] = {
    'current': {
        'torch': ((2, 6), None),
        'mmengine': ((0, 10, 8), (1, 0)),
        'mmcv': ((2, 3), (3, 0)),
        'mmdet': ((3, 4), (4, 0)),
    },
    'classic': {
        'torch': ((2, 0), (2, 6)),
        'mmengine': ((0, 10, 0), (0, 10, 8)),
        'mmcv': ((2, 0), (2, 2)),
        'mmdet': ((3, 3), (3, 4)),
    },
}
PACKAGES = ('torch', 'mmengine', 'mmcv', 'mmdet')
INSTALL_HINT = (
    'Install a supported stack with `bash tools/install.sh` (current) or '
    '`bash tools/install.sh --stack classic` (a new .venv), or into your own '
    'environment as docs/install.md shows; set CISSOD_SKIP_STACK_CHECK=1 to '
    'skip this check.')


def parse_version(text: str) -> Tuple[int, ...]:
    """``'2.14.1+cu130'`` -> ``(2, 14, 1)``; ``'0.10.8rc1'`` ->
    ``(0, 10, 8)``."""
    parts = []
    for piece in text.split('+')[0].split('.'):
        digits = ''
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _in_range(version: Tuple[int, ...], rng: Range) -> bool:
    low, below = rng
    return version >= low and (below is None or version < below)


def matching_stack(versions: Dict[str, str]) -> Optional[str]:
    """The name of the stack all ``versions`` fall in, or ``None``.

    Args:
        versions: import name -> version string, for the packages found
            (a package missing from the dict is not checked).
    """
    for name, ranges in STACKS.items():
        if all(_in_range(parse_version(v), ranges[pkg])
               for pkg, v in versions.items() if pkg in ranges):
            return name
    return None


def _fmt(rng: Range) -> str:
    low, below = rng
    text = '>=' + '.'.join(map(str, low))
    return text if below is None else text + ',<' + '.'.join(map(str, below))


def stack_error(versions: Dict[str, str], dists: Dict[str, str]) -> str:
    """The message for a stack that matches neither supported one."""
    found = ', '.join(f'{pkg} {versions[pkg]} ({dists.get(pkg, "?")})'
                      for pkg in PACKAGES if pkg in versions)
    lines = [f'cissod: unsupported software stack: {found}.',
             'cissod supports two stacks:']
    for name, ranges in STACKS.items():
        lines.append(f'  {name}: ' + ', '.join(
            f'{pkg} {_fmt(ranges[pkg])}' for pkg in PACKAGES))
    lines.append('(current = the onedl-mmengine / onedl-mmcv / '
                 'onedl-mmdetection packages; classic = upstream mmengine / '
                 'mmcv / mmdet.)')
    lines.append(INSTALL_HINT)
    return '\n'.join(lines)


#: the distributions that provide each import name, in the order looked up
DISTRIBUTIONS = {
    'torch': ('torch', ),
    'mmengine': ('onedl-mmengine', 'mmengine', 'mmengine-lite'),
    'mmcv': ('onedl-mmcv', 'mmcv', 'mmcv-lite'),
    'mmdet': ('onedl-mmdetection', 'mmdet'),
}


def installed_versions() -> Tuple[Dict[str, str], Dict[str, str]]:
    """(import name -> version, import name -> distribution) of what is
    installed, read from the distributions' metadata (nothing imported)."""
    versions, dists = {}, {}
    for pkg, candidates in DISTRIBUTIONS.items():
        for dist in candidates:
            try:
                versions[pkg] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            dists[pkg] = dist
            break
    return versions, dists


def check_stack() -> str:
    """Raise ``ImportError`` with :func:`stack_error` unless the installed
    torch / mmengine / mmcv / mmdet form a supported stack; return its name
    (``'unchecked'`` when skipped or nothing is found)."""
    if os.environ.get('CISSOD_SKIP_STACK_CHECK') == '1':
        return 'unchecked'
    versions, dists = installed_versions()
    # importable without metadata (a source tree on PYTHONPATH): unchecked
    missing = [pkg for pkg in PACKAGES
               if pkg not in versions and find_spec(pkg) is None]
    if missing:
        raise ImportError(
            f'cissod: {", ".join(missing)} not installed. ' + INSTALL_HINT)
    name = matching_stack(versions)
    if name is None:
        raise ImportError(stack_error(versions, dists))
    return name
