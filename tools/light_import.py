"""Import a pure-python submodule of cissod without running ``cissod/__init__``.

``import cissod`` registers every mmdet component (torch, mmcv, ...). The
data tools (``make_demo_data.py``, ``make_splits.py``) only need numpy-level
modules under ``cissod.datasets``, so the ``cissod`` and ``cissod.datasets``
packages are set up as bare namespace modules first (their ``__init__`` is
not executed); if that fails, the regular import is used.
"""
import importlib
import importlib.util
import os.path as osp
import sys
import types

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def import_cissod_module(name: str) -> types.ModuleType:
    """Import ``name`` (a module under ``cissod.datasets``) lightly."""
    if REPO_ROOT not in sys.path and importlib.util.find_spec(
            'cissod') is None:
        sys.path.insert(0, REPO_ROOT)  # fallback when not pip-installed
    if 'cissod' not in sys.modules:
        spec = importlib.util.find_spec('cissod')  # does not run __init__
        if spec is not None and spec.submodule_search_locations:
            pkg_dir = list(spec.submodule_search_locations)[0]
            stubs = [('cissod', pkg_dir),
                     ('cissod.datasets', osp.join(pkg_dir, 'datasets'))]
            for mod_name, path in stubs:
                mod = types.ModuleType(mod_name)
                mod.__path__ = [path]
                mod.__package__ = mod_name
                sys.modules[mod_name] = mod
            try:
                return importlib.import_module(name)
            except Exception:  # noqa: BLE001 - fall back to the real package
                for mod_name in list(sys.modules):
                    if mod_name == 'cissod' or mod_name.startswith('cissod.'):
                        del sys.modules[mod_name]
    return importlib.import_module(name)
