#!/usr/bin/env bash
# Download the files tools/gpu_check.sh installs on a GPU node without
# internet (requirements/gpu_check.txt): cp312 manylinux x86-64 wheels, or
# the sdist where PyPI has no wheel (onedl-mmdetection 3.5.1), and always
# onedl-mmcv's sdist (its CUDA ops are built on the node), into one folder
# (11 files, 6.3 MB for the pins of 2026-12; it must stay < 50 MB).
#
#   bash tools/prepare_gpu_wheels.sh DIR [--dry-run]
#
# Uses pip's own configuration (index, mirrors). --dry-run prints the pip
# commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: tools/prepare_gpu_wheels.sh DIR [--dry-run]" >&2; exit 2; }
DIR=$1
RUN=
[ "${2:-}" = "--dry-run" ] && RUN=echo
PY=${PYTHON:-python3}
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
mkdir -p "$DIR"
sdist() { $RUN $PY -m pip download -q --no-deps --no-binary :all: -d "$DIR" "$1"; }
for pin in $(grep -E '^[A-Za-z0-9_.-]+==' requirements/gpu_check.txt); do
  if [ "${pin%%==*}" = onedl-mmcv ]; then  # built on the node
    sdist "$pin"
  else
    # shellcheck disable=SC2086
    $RUN $PY -m pip download -q --no-deps --only-binary :all: \
      --python-version 3.12 --implementation cp $PLATFORMS -d "$DIR" \
      "$pin" 2>/dev/null || sdist "$pin"
  fi
done
[ -n "$RUN" ] && exit 0
size=$(du -sm "$DIR" | cut -f1)
echo "[cissod] $(ls "$DIR" | wc -l) files, ${size} MB in $DIR"
if [ "$size" -ge 50 ]; then
  echo "[cissod] the folder is over 50 MB" >&2; exit 1
fi
