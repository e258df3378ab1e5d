#!/usr/bin/env bash
# Set up the stack (idempotent, see tools/setup_env.sh) and run the test suite.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup_env.sh"
VENV=$(bash "$ROOT/tools/setup_env.sh" --print-venv)
cd "$ROOT"
exec "$VENV/bin/python" -m pytest tests -q -p no:cacheprovider "$@"
