#!/usr/bin/env bash
# Install the whole pinas_mm stack into one virtualenv outside the clone.
# Idempotent: a second run with everything present finishes in seconds.
#   PINAS_HOME  (default ~/.cache/pinas_mm)  holds venv/ and wheels/ (built mmcv wheels:
#               wheels/cpu/ CPU-only ops, wheels/cuda<ver>-sm<arch>/ with CUDA kernels)
#   PINAS_MMCV_CUDA  1: build mmcv's CUDA ops, 0: CPU-only ops, unset: CUDA ops when torch
#               sees a GPU and nvcc is found (pinas_mm/utils/mmcv_build.py decides)
# Prints nothing but progress; `source "$(tools/setup_env.sh --print-venv)/bin/activate"` to use.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PINAS_HOME=${PINAS_HOME:-$HOME/.cache/pinas_mm}
VENV=$PINAS_HOME/venv
WHEELS=$PINAS_HOME/wheels
MMCV_VERSION=2.1.0
PY=${PYTHON:-python3}

if [ "${1:-}" = "--print-venv" ]; then echo "$VENV"; exit 0; fi
log() { echo "[setup_env] $*" >&2; }
mkdir -p "$PINAS_HOME" "$WHEELS"

stamp=$VENV/.pinas_stamp
want=$(cat "$ROOT/requirements/runtime.txt" "$ROOT/requirements/tests.txt" "$ROOT/setup.py" "$0" \
       "$ROOT/pinas_mm/utils/mmcv_build.py" | sha1sum | cut -c1-40)
# CPU-only or CUDA ops: sets PINAS_MMCV_{OPS,TAG,ARCH_LIST,REASON}; a bad setting stops here
choose_mmcv() {
  local out
  out=$(cd / && OMP_NUM_THREADS=1 "$VENV/bin/python" "$ROOT/pinas_mm/utils/mmcv_build.py" choose) || exit 1
  eval "$out"
}
# pinas_mm must be imported from THIS checkout (a fresh clone elsewhere re-points it);
# mmcv's ops must have CUDA kernels exactly when a CUDA build was chosen
check_imports() {
  (cd / && "$VENV/bin/python" - "$ROOT" "$PINAS_MMCV_OPS" <<'PY'
import os, sys
import mmcv.ops, mmdet, mmseg, mmpretrain  # noqa: F401
from mmcv.ops import get_compiling_cuda_version
if (get_compiling_cuda_version() not in ('', 'not available')) != (sys.argv[2] == 'cuda'):
    sys.exit(4)
try:  # an editable install whose checkout was deleted (an old CI clone) fails here
    import pinas_mm
except ImportError:
    sys.exit(3)
root = os.path.realpath(sys.argv[1])
sys.exit(0 if os.path.realpath(pinas_mm.__file__).startswith(root + os.sep) else 3)
PY
  ) 2>/dev/null
}
if [ -f "$stamp" ]; then
  choose_mmcv
  if [ "$(cat "$stamp")" = "$want $PINAS_MMCV_TAG" ]; then
    rc=0; check_imports || rc=$?
    if [ $rc -eq 0 ]; then log "environment up to date: $VENV"; exit 0; fi
    if [ $rc -eq 3 ]; then
      log "pointing the editable pinas_mm install at $ROOT"
      "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >&2
      check_imports && { log "environment up to date: $VENV"; exit 0; }
    fi
  fi
fi

# PostgreSQL server binaries for the shared-history tests (tests/_postgres.py starts a
# throwaway server; psycopg itself comes from requirements/runtime.txt). Debian/Ubuntu only;
# elsewhere, or without root, one line says what is missing and the rest goes on.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing the PostgreSQL server (apt package postgresql) for tests/test_workers.py"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; } \
      || log "could not install postgresql: tests/test_workers.py's PostgreSQL tests will fail"
  else
    log "PostgreSQL server not found: install the apt package postgresql (tests/test_workers.py needs it)"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip 'setuptools>=77.0.3,<81' wheel ninja >&2
log "installing torch, OpenMMLab and friends (torch wheels come from local disk when present)"
$PIP install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" >&2
# NAS-Bench-201 table (pinas_mm.search.nb201_table reads only its data file; its own deps, pandas, are not needed)
$PIP install -q --no-deps analog-nasbench==0.1.3 >&2

choose_mmcv
MMCV_WHEELS=$WHEELS/$PINAS_MMCV_TAG
mkdir -p "$MMCV_WHEELS"
# a CPU wheel from before the split (wheels/mmcv-*.whl) is the cpu/ one: link it there
# and leave it in place for older checkouts
if [ "$PINAS_MMCV_TAG" = cpu ] && ! ls "$MMCV_WHEELS"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
  for old in "$WHEELS"/mmcv-$MMCV_VERSION-*.whl; do
    [ -f "$old" ] && { ln -f "$old" "$MMCV_WHEELS/" 2>/dev/null || cp "$old" "$MMCV_WHEELS/"; }
  done
fi
if ! ls "$MMCV_WHEELS"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION: $PINAS_MMCV_REASON"
  log "(once per machine: ~16 min on 2 cores for CPU ops, much longer with CUDA kernels)"
  (cd / && "$VENV/bin/python" "$ROOT/pinas_mm/utils/mmcv_build.py" build \
     --wheel-dir "$MMCV_WHEELS" --jobs "${MAX_JOBS:-2}" >/dev/null)
fi
$PIP install -q --no-deps "$MMCV_WHEELS"/mmcv-$MMCV_VERSION-*.whl >&2
# mmcv's runtime needs (addict, yapf, opencv, packaging...) without letting pip touch the pins
$PIP install -q addict packaging pyyaml yapf opencv-python-headless 'numpy<2' >&2
log "installing pinas_mm (editable)"
$PIP install -q --no-deps --no-build-isolation -e "$ROOT" >&2
rc=0; check_imports || rc=$?
if [ $rc -eq 4 ]; then  # the other kind of ops is installed: same version number, so force
  log "replacing the installed mmcv with the $PINAS_MMCV_TAG wheel"
  $PIP install -q --no-deps --force-reinstall "$MMCV_WHEELS"/mmcv-$MMCV_VERSION-*.whl >&2
  rc=0; check_imports || rc=$?
fi
[ $rc -eq 0 ] || { log "import check failed"; exit 1; }
echo "$want $PINAS_MMCV_TAG" > "$stamp"
log "ready: $VENV (mmcv: $PINAS_MMCV_REASON)"
