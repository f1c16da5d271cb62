#!/usr/bin/env bash
# npm packages the test suite uses as real peers, installed into each peer's
# own folder (never globally): tests/peers/oauth (oidc-provider, an OAuth 2.0
# token endpoint). Idempotent: `npm ci` runs only when node_modules is missing
# or older than the lock file. Without npm it prints a note and exits 0 (the
# tests that need the peer are then skipped with the reason).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
projects=("$root/tests/peers/oauth")
if ! command -v npm >/dev/null; then
  echo "note: npm is not installed: the oidc-provider peer tests will be skipped" \
       "(install Node.js and npm: sudo apt-get install nodejs npm)" >&2
  exit 0
fi
for dir in "${projects[@]}"; do
  lock="$dir/package-lock.json"
  stamp="$dir/node_modules/.package-lock.json"  # written by npm at the end of an install
  if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ]; then
    continue
  fi
  echo "installing npm packages in ${dir#"$root"/}" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
done
