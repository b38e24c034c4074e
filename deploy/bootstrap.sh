#!/usr/bin/env bash
# Prepare this checkout to run or test: a virtualenv with the pinned dependencies (re-installed only
# when pyproject.toml changes), the Kafka broker's jars and Keycloak from Maven Central, the
# console's npm packages (all cached in ${SAFEGUARDING_CACHE:-~/.cache/safeguarding}), and Chromium
# for the browser tests. Sourced by run.sh and test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SAFEGUARDING_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

need_root_install() {  # name of a missing command, Debian packages that bring it
  local command_name="$1"; shift
  command -v "$command_name" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing $* (for $command_name)…"
    if [ -z "${SAFEGUARDING_APT_UPDATED:-}" ]; then apt-get update -qq; export SAFEGUARDING_APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "bootstrap: '$command_name' is missing; install: $*" >&2
    exit 1
  fi
}

need_root_install java default-jre-headless
need_root_install mvn maven

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python dependencies…"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  (cd "$ROOT" && python -m deploy.kafka_broker fetch)
fi
# The OpenID provider the staff sign-in tests start (Keycloak, ~160 MB, cached like the Kafka jars).
(cd "$ROOT" && python -m deploy.keycloak fetch)
# The console's browser packages (GOV.UK Frontend, htmx) and the tests' axe-core, pinned by
# deploy/frontend/package-lock.json and cached like the jars; and Debian's Chromium, which the
# browser tests drive through Playwright (Playwright's own browser download cannot work here).
need_root_install npm npm
(cd "$ROOT" && python -m deploy.frontend fetch)
need_root_install chromium chromium
