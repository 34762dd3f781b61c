#!/usr/bin/env bash
# Set up everything from a fresh clone and run the demo or the tests.
#   ./dev.sh demo   - create .venv from the lock file and run `tinycode demo`
#   ./dev.sh test   - also install system packages (bubblewrap, chromium) and run the test suite
set -euo pipefail
cd "$(dirname "$0")"

ensure_venv() {
  if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check uv
  fi
  uv sync --frozen --extra dev --inexact --compile-bytecode --quiet
}

ensure_system_packages() {
  local missing=()
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v git >/dev/null 2>&1 || missing+=(git)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing system packages: ${missing[*]} (sudo apt-get install -y ${missing[*]})" >&2
    fi
  fi
}

case "${1:-}" in
  demo)
    ensure_venv
    shift
    exec .venv/bin/tinycode demo "$@"
    ;;
  test)
    ensure_system_packages
    ensure_venv
    shift
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
