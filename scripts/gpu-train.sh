#!/usr/bin/env bash
# Train a preset on one GPU in chunks, each inside a bounded wall-clock call, each resumable from the
# compact state the last one wrote (docs/training.md):
#
#   scripts/gpu-train.sh PRESET OUT [--resume-from STATE] [--tokens N | --steps N] [options] [-- trainer flags]
#   scripts/gpu-train.sh finish STATE MODEL_DIR      # evaluation and export, on any machine
#
# The chunk's clock starts here, before Python and torch load, so the wall limit (--wall-minutes,
# default 9) covers the whole call. Python: $PYTHON, else the project's .venv, else python3.
set -euo pipefail
started=$(date +%s.%N)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
export PYTHONPATH="$root/server/training/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
case "${1:-}" in
  finish) shift; exec "$py" -m diffill_trainer.chunked finish "$@" ;;
  ""|-h|--help) exec "$py" -m diffill_trainer.chunked train --help ;;
  *) exec "$py" -m diffill_trainer.chunked train --started-at "$started" "$@" ;;
esac
