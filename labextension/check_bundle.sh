#!/usr/bin/env bash
# Rebuild the labextension from its source and lock file, and fail if the
# committed bundle (tinycode_jupyter/labextension/) differs from the rebuild.
# Needs node >= 20.19 and the Python `jupyter-builder` (it comes with jupyterlab).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
bundle="$repo/tinycode_jupyter/labextension"
if [[ -x "$repo/.venv/bin/jupyter-builder" ]]; then
  PATH="$repo/.venv/bin:$PATH"
fi

committed="$(mktemp -d)"
trap 'rm -rf "$committed"' EXIT
cp -a "$bundle/." "$committed/"

cd "$here"
npm ci --no-audit --no-fund
rm -rf lib tsconfig.tsbuildinfo "$bundle"
npm run build

if diff -r "$committed" "$bundle"; then
  echo "labextension bundle matches its source"
else
  echo "labextension bundle is stale: the rebuilt one is now in tinycode_jupyter/labextension/; commit it" >&2
  exit 1
fi
