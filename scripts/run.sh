#!/usr/bin/env bash
# The main job: set everything up, build, and run the default pipeline.
#
#   scripts/run.sh [ARGS...]      ARGS go to the pipeline (tokens, experts, router)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
exec build/release/bin/switchyard run scripts/pipelines/route_synthetic.lua "$@"
