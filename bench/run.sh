#!/usr/bin/env bash
# The benchmarks (bench/README.md): prepare the checkout like deploy/test.sh does (virtualenv with
# the pinned dependencies, the Kafka broker's jars), then run `python -m bench` with the arguments
# given, e.g. `bench/run.sh --quick` or `bench/run.sh --scenario steady`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/deploy/bootstrap.sh"
cd "$ROOT"
python -m bench "$@"
