#!/usr/bin/env bash
# Debian packages the test suite and benchmarks use as real peers: nginx,
# HAProxy and Apache httpd (TLS endpoints), pebble and Caddy (ACME servers),
# Mosquitto (MQTT broker), Prometheus (scrape and remote write), PostgreSQL's
# binaries (a throwaway cluster when none is running), Node.js (an OAuth
# server from npm), chromium (report and dashboard rendering), wrk and hey
# (benchmark peers), iproute2 (network namespaces). Installs only what is
# missing; needs root for apt. Installing a package never leaves its service
# running: the tests start their own instances on their own ports.
set -euo pipefail
declare -A want=(
  [nginx]=/usr/sbin/nginx
  [haproxy]=/usr/sbin/haproxy
  [apache2]=/usr/sbin/apache2
  [pebble]=/usr/bin/pebble
  [caddy]=/usr/bin/caddy
  [mosquitto]=/usr/sbin/mosquitto
  [mosquitto-clients]=/usr/bin/mosquitto_sub
  [prometheus]=/usr/bin/prometheus
  [nodejs]=/usr/bin/node
  [chromium]=/usr/bin/chromium
  [wrk]=/usr/bin/wrk
  [hey]=/usr/bin/hey
  [iproute2]=/usr/sbin/ip
)
missing=()
for pkg in "${!want[@]}"; do
  [ -x "${want[$pkg]}" ] || missing+=("$pkg")
done
# PostgreSQL's server binaries (initdb, postgres) live in a versioned folder.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
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
