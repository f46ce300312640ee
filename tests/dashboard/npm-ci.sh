#!/usr/bin/env bash
# ctest fixture dashboard_npm: installs the dashboard's pinned npm packages
# (package-lock.json) into dashboard/node_modules with `npm ci`. Skipped when
# the installed tree already matches the lockfile (a stamp holds its hash).
# Browsers are never downloaded: the e2e test drives Debian's chromium.
set -euo pipefail
dir=${1:?usage: npm-ci.sh DASHBOARD_DIR}
cd "$dir"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
stamp=node_modules/.cairn-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "dashboard: node_modules matches package-lock.json"
  exit 0
fi
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
echo "dashboard: npm ci done"
