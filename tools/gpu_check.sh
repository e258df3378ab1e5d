#!/usr/bin/env bash
# Check the GPU-only paths in one run (<= ~8 minutes on one H100/H200) and print one table:
# Pi-NAS vs MoCo v2 images/s and peak memory (fp32 and --amp), Mask R-CNN and DeepLabV3
# with the pinas-trans backbone (20 iterations over NCCL + evaluation), a 3-candidate
# search. See benchmarks/gpu_check.py for what each row measures.
#
#   bash tools/gpu_check.sh [ARGS of benchmarks/gpu_check.py]     # set-up's venv on a GPU machine
#   bash tools/gpu_check.sh --prepare-wheelhouse DIR               # here: wheels for a machine
#                                                                  # that reaches no registry
#   bash tools/gpu_check.sh --wheelhouse DIR [ARGS]                # there: install DIR's wheels
#        into /tmp/pinas_site, build mmcv's CUDA ops from DIR's sdist with all cores, run
#
# Python: $PYTHON, else the set-up's venv (tools/setup_env.sh), else python3.
# Without a CUDA GPU it stops with one line (the CPU dry run is
# `python benchmarks/gpu_check.py --device cpu --tiny`).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MMCV_VERSION=2.1.0
# what the device image (python 3.12, torch, numpy, scipy, opencv, ...) lacks; --no-deps
CARRY="mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0
  addict yapf platformdirs termcolor pycocotools shapely terminaltables prettytable wcwidth
  ftfy mat4py model-index ordered-set importlib-metadata lazy-importer optuna alembic
  sqlalchemy mako colorlog lightgbm setuptools<81"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  VENV=$(bash "$ROOT/tools/setup_env.sh" --print-venv)
  if [ -x "$VENV/bin/python" ]; then PY=$VENV/bin/python; else PY=python3; fi
fi

if [ "${1:-}" = "--prepare-wheelhouse" ]; then
  dir=${2:?usage: tools/gpu_check.sh --prepare-wheelhouse DIR}
  target=${WHEELHOUSE_PYTHON:-3.12}
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$target" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$dir" $CARRY
  (cd "$dir" && "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
     mmcv==$MMCV_VERSION)
  du -sh "$dir" >&2
  exit 0
fi

if [ "${1:-}" = "--wheelhouse" ]; then
  dir=$(cd "${2:?usage: tools/gpu_check.sh --wheelhouse DIR [ARGS]}" && pwd); shift 2
  PY=${PYTHON:-python3}
  site=/tmp/pinas_site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$dir"/*.whl
  export PYTHONPATH=$site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
  if ! (cd / && "$PY" -c 'import mmcv.ops' 2>/dev/null); then
    echo "[gpu_check] building mmcv $MMCV_VERSION's CUDA ops with $(nproc) jobs" >&2
    t0=$(date +%s)
    PINAS_MMCV_CUDA=${PINAS_MMCV_CUDA:-1} "$PY" "$ROOT/pinas_mm/utils/mmcv_build.py" build \
      --sdist "$dir/mmcv-$MMCV_VERSION.tar.gz" --wheel-dir /tmp/pinas_mmcv --jobs "$(nproc)" >/dev/null
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$site" \
      /tmp/pinas_mmcv/mmcv-$MMCV_VERSION-*.whl
    echo "[gpu_check] mmcv built and installed in $(( $(date +%s) - t0 )) s" >&2
  fi
fi

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check: no CUDA GPU visible to $PY's torch: run it on a GPU machine (CPU dry run: $PY benchmarks/gpu_check.py --device cpu --tiny)" >&2
  exit 1
fi
cd "$ROOT"
export PYTHONUNBUFFERED=1
exec "$PY" benchmarks/gpu_check.py --device cuda "$@"
