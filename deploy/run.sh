#!/usr/bin/env bash
# Run the whole system locally: Kafka, the mail sink and the four services. Ctrl-C stops it all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/deploy/bootstrap.sh"
cd "$ROOT"
exec python -m deploy.launcher "$@"
