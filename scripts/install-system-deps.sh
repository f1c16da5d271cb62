#!/usr/bin/env bash
# Debian packages the test suite and benchmarks use as real peers: nginx and
# HAProxy (TLS endpoints), pebble (ACME), chromium (report rendering), wrk and
# hey (benchmark peers). Installs only what is missing; needs root for apt.
set -euo pipefail
declare -A want=(
  [nginx]=/usr/sbin/nginx
  [haproxy]=/usr/sbin/haproxy
  [pebble]=/usr/bin/pebble
  [chromium]=/usr/bin/chromium
  [wrk]=/usr/bin/wrk
  [hey]=/usr/bin/hey
)
missing=()
for pkg in "${!want[@]}"; do
  [ -x "${want[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: missing system packages: ${missing[*]} (tests that need them will be skipped;" \
       "install with: sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
