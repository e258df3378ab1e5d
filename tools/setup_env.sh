#!/usr/bin/env bash
# Install the whole pinas_mm stack into one virtualenv outside the clone.
# Idempotent: a second run with everything present finishes in seconds.
#   PINAS_HOME  (default ~/.cache/pinas_mm)  holds venv/ and wheels/ (the built mmcv wheel)
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
want=$(cat "$ROOT/requirements/runtime.txt" "$ROOT/requirements/tests.txt" "$ROOT/setup.py" "$0" | sha1sum | cut -c1-40)
# pinas_mm must be imported from THIS checkout (a fresh clone elsewhere re-points it)
check_imports() {
  (cd / && "$VENV/bin/python" - "$ROOT" <<'PY'
import os, sys
import mmcv.ops, mmdet, mmseg, mmpretrain  # noqa: F401
try:  # an editable install whose checkout was deleted (an old CI clone) fails here
    import pinas_mm
except ImportError:
    sys.exit(3)
root = os.path.realpath(sys.argv[1])
sys.exit(0 if os.path.realpath(pinas_mm.__file__).startswith(root + os.sep) else 3)
PY
  ) 2>/dev/null
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  rc=0; check_imports || rc=$?
  if [ $rc -eq 0 ]; then log "environment up to date: $VENV"; exit 0; fi
  if [ $rc -eq 3 ]; then
    log "pointing the editable pinas_mm install at $ROOT"
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" >&2
    check_imports && { log "environment up to date: $VENV"; exit 0; }
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

if ! ls "$WHEELS"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
  log "building mmcv $MMCV_VERSION with CPU ops (once per machine, ~16 min on 2 cores)"
  build=$(mktemp -d)
  (cd "$build" && $PIP download -q --no-deps --no-binary :all: --no-build-isolation mmcv==$MMCV_VERSION >&2)
  tar -xzf "$build"/mmcv-$MMCV_VERSION.tar.gz -C "$build"
  src=$build/mmcv-$MMCV_VERSION
  # torch >= 2.6 headers need C++20; mmcv's setup.py hard-codes older standards.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
     $PIP wheel -q --no-deps --no-build-isolation -w "$WHEELS" . >&2)
  rm -rf "$build"
fi
$PIP install -q --no-deps "$WHEELS"/mmcv-$MMCV_VERSION-*.whl >&2
# mmcv's runtime needs (addict, yapf, opencv, packaging...) without letting pip touch the pins
$PIP install -q addict packaging pyyaml yapf opencv-python-headless 'numpy<2' >&2
log "installing pinas_mm (editable)"
$PIP install -q --no-deps --no-build-isolation -e "$ROOT" >&2
check_imports || { log "import check failed"; exit 1; }
echo "$want" > "$stamp"
log "ready: $VENV"
