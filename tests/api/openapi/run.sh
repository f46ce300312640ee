#!/usr/bin/env bash
# The OpenAPI test, as ctest runs it: copies the node project into WORK_DIR
# (the build tree), runs `npm ci` there unless node_modules was installed from
# the same package-lock.json already, then validates docs/openapi.yaml.
# Usage: run.sh WORK_DIR REPO_ROOT
set -euo pipefail
work=$1
repo=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/check.mjs" "$work/"
hash=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
stamp="$work/node_modules/.cairn-lockfile-sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$hash" ]]; then
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$hash" >"$stamp"
fi
cd "$work"
exec node check.mjs "$repo"
