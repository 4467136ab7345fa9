#!/usr/bin/env bash
# The GPU check, one command on a node with one CUDA GPU, nvcc and a
# preinstalled current torch, without internet:
#
#   bash tools/prepare_gpu_wheels.sh WHEELS     # beforehand, with internet
#   bash tools/gpu_check.sh --wheels WHEELS [--out bench/results_gpu.txt]
#   bash tools/gpu_check.sh --device cpu        # toy size on the CPU (CI)
#
# 1. a venv on top of the node's Python (--system-site-packages: its torch,
#    NumPy, OpenCV), the files of requirements/gpu_check.txt installed from
#    WHEELS with --no-index --no-deps, and mmcv's CUDA ops built for the
#    local GPU only (TORCH_CUDA_ARCH_LIST from the device's capability,
#    MAX_JOBS=$(nproc)); the build time is printed. The built mmcv wheel is
#    kept in WHEELS/built/ and reused by the next call (so a second call
#    skips the build).
# 2-5. tools/gpu_check.py: exactness on the device, bench/bench_gbr.py on
#    it, Soft Teacher vs CISSOD at full size (fp32 and AMP); one summary
#    table on stdout and in --out.
# With --device cpu the install is skipped (the current environment is
# used) and step 2-4 run at toy size.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda WHEELS= OUT=bench/results_gpu.txt
VENV=${CISSOD_GPU_VENV:-/tmp/cissod-gpu-venv}
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: tools/gpu_check.sh [--wheels DIR] [--device cuda|cpu] [--out FILE]" >&2; exit 2 ;;
  esac
done
if [ "$DEVICE" = cpu ]; then
  exec "${PYTHON:-python3}" tools/gpu_check.py --device cpu --size toy --out "$OUT"
fi
[ -n "$WHEELS" ] || { echo "[cissod] --wheels DIR is needed (tools/prepare_gpu_wheels.sh DIR)" >&2; exit 2; }
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv --system-site-packages "$VENV"
PY=$VENV/bin/python
PIP="$PY -m pip install -q --no-index --no-deps --no-cache-dir --find-links $WHEELS"
pins=$(grep -E '^[A-Za-z0-9_.-]+==' requirements/gpu_check.txt)
# setuptools first (the sdists are built with it), mmcv last (needs torch)
$PIP "$(echo "$pins" | grep '^setuptools==')"
$PIP --no-build-isolation $(echo "$pins" | grep -vE '^(setuptools|onedl-mmcv)==')
if ! $PY -c "import mmcv.ops" 2>/dev/null; then
  mmcv_pin=$(echo "$pins" | grep '^onedl-mmcv==')
  mkdir -p "$WHEELS/built"
  if ! ls "$WHEELS"/built/onedl_mmcv-*.whl >/dev/null 2>&1; then
    arch=$($PY -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
    echo "[cissod] building mmcv's CUDA ops for sm ${arch} with $(nproc) jobs"
    start=$(date +%s)
    MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch MAX_JOBS=$(nproc) \
      $PY -m pip wheel -q --no-index --no-deps --no-build-isolation \
      --find-links "$WHEELS" -w "$WHEELS/built" "$mmcv_pin"
    echo "[cissod] mmcv build: $(( $(date +%s) - start )) s;" \
      "wheel $(du -m "$WHEELS"/built/onedl_mmcv-*.whl | cut -f1) MB in $WHEELS/built"
  fi
  $PIP --find-links "$WHEELS/built" "$mmcv_pin"
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation -e .
$PY -c "import mmcv.ops, torch; print('[cissod] mmcv ops ok; torch', torch.__version__, torch.cuda.get_device_name())"
exec "$PY" tools/gpu_check.py --device cuda --size full --out "$OUT"
