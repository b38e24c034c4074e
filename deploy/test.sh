#!/usr/bin/env bash
# The whole test suite: lint, types, then unit, service, integration and e2e tests against a real
# Kafka broker, SQLite and PostgreSQL. Extra arguments go to pytest (e.g. -k pipeline).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/deploy/bootstrap.sh"
cd "$ROOT"

# PostgreSQL server binaries for the throwaway test cluster (tests/support/postgres.py).
if [ -z "${TEST_POSTGRES_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_root_install pg_ctlcluster postgresql
fi
# Debian's Prometheus: promtool checks and unit-tests deploy/monitoring/ (tests/unit/test_monitoring.py)
# and the server scrapes the running services (tests/integration/test_prometheus.py).
need_root_install promtool prometheus
# Debian's poppler-utils: pdftoppm draws page 1 of the agenda PDF as a PNG (tests/unit/test_agenda_print.py).
need_root_install pdftoppm poppler-utils

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy (strict)"; mypy .
echo "== pytest"
# Exit code 5 ("no tests ran") is a failure here like any other non-zero code. The 40 slowest
# steps are listed at the end, so every CI log shows where the suite's time goes.
python -m pytest -ra --durations=40 "$@"
