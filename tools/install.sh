#!/usr/bin/env bash
# Create .venv inside the repository and install a stack + cissod.
#
#   bash tools/install.sh                  # default: current stack (below)
#   bash tools/install.sh --stack classic  # torch 2.5.1 + upstream OpenMMLab
#   CISSOD_STACK=classic bash tools/install.sh   # the same
#
# Stacks (the pins and their reasons: requirements/<stack>.txt, docs/install.md):
#   current  torch 2.12.1 / torchvision 0.27.1, NumPy 2, onedl-mmengine 0.10.12,
#            onedl-mmcv 2.3.6 (ops built from the sdist), onedl-mmdetection 3.5.1
#   classic  torch 2.5.1 / torchvision 0.20.1, NumPy < 2, mmengine 0.10.7,
#            mmcv 2.1.0 (ops built from the sdist), mmdet 3.3.0
#
# mmcv's C++ ops are built from the sdist against the installed torch, without
# build isolation (pip's isolated build env has no torch and silently skips
# `mmcv._ext`): about 10 min on 2 cores the first time (12 min 20 s for the
# whole install from an empty pip cache, docs/install.md); pip caches the wheel.
# CUDA ops: FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="9.0" (H100/H200; 10.0 B200).
# pip's own configuration (index, mirrors, constraints) is respected.
# Idempotent: a stamp records the hash of the inputs; a second run returns at
# once.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK=${CISSOD_STACK:-current}
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=$2; shift 2 ;;
    --stack=*) STACK=${1#--stack=}; shift ;;
    *) echo "usage: tools/install.sh [--stack current|classic]" >&2; exit 2 ;;
  esac
done
case "$STACK" in
  current|classic) ;;
  *) echo "[cissod] unknown stack '$STACK': use current or classic" >&2; exit 2 ;;
esac
REQ=requirements/$STACK.txt
VENV=${CISSOD_VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.cissod-installed"
want=$(cat "$REQ" requirements/common.txt tools/install.sh setup.py \
  | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
echo "[cissod] installing the $STACK stack into $VENV" \
  "(the first run builds mmcv's ops from source: about 10 min on 2 cores)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
pin() { grep -E "^$1==" "$REQ" | head -n 1; }
# build tools for mmcv's setup.py (without build isolation they come from the
# venv): setuptools>=80 for onedl-mmcv's pyproject, <81 for mmcv 2.1.0's
# pkg_resources import (both stacks build with the same range)
$PIP install -q --upgrade pip "setuptools>=80,<81" wheel ninja psutil packaging
# torch first: mmcv's ops are compiled against it
$PIP install -q "$(pin torch)" "$(pin torchvision)"
# everything but mmcv, which pip would build in an isolated env without torch
mmcv_pin=$(grep -E '^(onedl-)?mmcv==' "$REQ")
$PIP install -q -r <(grep -vE '^(onedl-)?mmcv==' "$REQ") -r requirements/common.txt
MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  $PIP install --no-build-isolation "$mmcv_pin"
# real aerial images with tree boxes (tools/make_deepforest_data.py): only the
# package's data is used, so none of its dependencies is installed
$PIP install -q --no-deps deepforest==2.1.0
# the official LVIS evaluator, only as the reference of the federated parity
# tests; --no-deps: its pins (opencv-python, Cython) are not needed
$PIP install -q --no-deps lvis==0.5.3
$PIP install -q --no-build-isolation --no-deps -e .
"$VENV/bin/python" -c "import mmcv.ops, mmdet, cissod, torch, numpy; print('[cissod] ok: $STACK stack: torch', torch.__version__, 'numpy', numpy.__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__)"
echo "$want" > "$STAMP"
