#!/usr/bin/env bash
# Create .venv inside the repository and install the pinned stack + cissod.
#
# Idempotent: a stamp file records the hash of requirements.txt and this
# script; when it matches, the script returns in well under a second.
# mmcv 2.1.0 is built from the PyPI sdist with its CPU ops (about 12 min on
# 2 cores the first time; pip caches the wheel, later installs take seconds).
# For CUDA ops on a GPU machine run with FORCE_CUDA=1 (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CISSOD_VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.cissod-installed"
want=$(cat requirements.txt tools/install.sh setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
echo "[cissod] installing into $VENV (first run builds mmcv ops: ~12 min on 2 cores)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade "pip<25" "setuptools<70" wheel ninja psutil
# torch first: mmcv is built against it without build isolation.
$PIP install -q torch==2.5.1 torchvision==0.20.1
$PIP install -q mmengine==0.10.7 "numpy<2.3" opencv-python-headless
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation mmcv==2.1.0
$PIP install -q -r requirements.txt
# real aerial images with tree boxes (tools/make_deepforest_data.py): only the
# package's data is used, so none of its dependencies is installed
$PIP install -q --no-deps deepforest==2.1.0
# the official LVIS evaluator, only as the reference of the federated parity
# tests (which restore numpy's removed np.float alias for it); production
# uses faster-coco-eval. --no-deps: it needs numpy, pycocotools, matplotlib
# and cv2 (opencv-python-headless above), not its pins (opencv-python, Cython)
$PIP install -q --no-deps lvis==0.5.3
$PIP install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -c "import mmcv.ops, mmdet, cissod; print('[cissod] ok: mmcv', mmcv.__version__, 'mmdet', mmdet.__version__)"
echo "$want" > "$STAMP"
