#!/usr/bin/env bash
# Set up the stack (idempotent) and run the main job on the built-in tiny default:
# tiny datasets -> Pi-NAS supernet -> linear probe -> search -> export ->
# Mask R-CNN (COCO format) and DeepLabV3 (ADE20K format) fine-tunes -> report.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/tools/setup_env.sh"
VENV=$(bash "$ROOT/tools/setup_env.sh" --print-venv)
cd "$ROOT"
exec "$VENV/bin/python" tools/pipeline.py "$@"
