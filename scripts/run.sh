#!/usr/bin/env bash
# The main job: set everything up, build, and run the default pipeline.
#
#   scripts/run.sh [MODEL_DIR] [QUANTIZER]   default: the built-in model, bf16 experts
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
exec build/release/bin/switchyard run scripts/pipelines/builtin_model_demo.lua "$@"
