#!/usr/bin/env bash
# ctest dashboard_dist_fresh: type-checks dashboard/src, rebuilds it with Vite
# into OUT and checks the committed dashboard/dist is byte for byte the same
# (so the binary embeds what the sources say). On a difference: run
# `npm run build` in dashboard/ and commit dist/.
set -euo pipefail
dir=${1:?usage: dist-fresh.sh DASHBOARD_DIR OUT}
out=${2:?usage: dist-fresh.sh DASHBOARD_DIR OUT}
cd "$dir"
# Vite 7 needs Node 20.19+ (or 22.12+); an older node cannot rebuild.
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)||a===21?0:1)'; then
  echo "dashboard_dist_fresh: node $(node --version) is too old for Vite 7: skipped" >&2
  exit 77
fi
rm -rf "$out"
node_modules/.bin/tsc --noEmit -p .
node_modules/.bin/vite build --logLevel warn --outDir "$out" --emptyOutDir
if ! diff -r "$out" dist; then
  echo "dashboard/dist is stale: run 'npm run build' in dashboard/ and commit dist/" >&2
  exit 1
fi
echo "dashboard/dist is up to date ($(find dist -type f | wc -l) files)"
