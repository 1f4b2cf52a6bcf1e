#!/usr/bin/env bash
# One check for a machine with a GPU, in under 8 minutes: every assignment's solution, release
# and plausible mistake graded with `make grade ... JOBS=2` (two workers sharing the GPU) on
# each installed backend among TensorFlow, JAX and PyTorch, and the `gpu` profile of lectures 02
# and 07 timed; writes build/gpu-report.md. With no GPU visible it says so and runs the CPU path.
#
#   bash tools/gpu_check.sh            # the whole check (on a GPU runtime: its own Python)
#   bash tools/gpu_check.sh --quick    # one assignment, one backend, smoke profile (tests run it)
#
# Uses $PYTHON, else ./.venv/bin/python when `make setup` made it, else python3. The runtime
# needs aekeras's requirements and extras [course,grader,dev] and at least one backend.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
export PYTHONUNBUFFERED=1
exec "$PYTHON" tools/gpu_check.py "$@"
