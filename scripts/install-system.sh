#!/usr/bin/env bash
# Installs the real servers redline's tests and demo run on loopback (Debian packages), only
# when one is missing, so a machine that has them is not touched. `apt-get update` runs once.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have prometheus /usr/bin/prometheus || need+=(prometheus)
have promtool /usr/bin/promtool || need+=(prometheus)
have alertmanager /usr/bin/prometheus-alertmanager || need+=(prometheus-alertmanager)
have amtool /usr/bin/amtool || need+=(prometheus-alertmanager)
have prometheus-blackbox-exporter /usr/bin/prometheus-blackbox-exporter || need+=(prometheus-blackbox-exporter)
have prometheus-node-exporter /usr/bin/prometheus-node-exporter || need+=(prometheus-node-exporter)
have mtail /usr/bin/mtail || need+=(mtail)  # bench/logs.py: log parsing against mtail
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/pg_stat_statements.control ] || need+=(postgresql-contrib)
have prometheus-postgres-exporter /usr/bin/prometheus-postgres-exporter || need+=(prometheus-postgres-exporter)  # bench/postgres.py
have pgbouncer /usr/sbin/pgbouncer || need+=(pgbouncer)  # tests/test_postgres.py: transaction mode
have chromium /usr/bin/chromium || need+=(chromium)  # tests/test_status_browser.py: the status page
have victoria-metrics /usr/bin/victoria-metrics || need+=(victoria-metrics)  # tests/test_remote_write.py, tests/test_platform_scrape.py
have nginx /usr/sbin/nginx || need+=(nginx-light)  # tests/test_deploy.py: the public TLS endpoint
have systemd-analyze /usr/bin/systemd-analyze || need+=(systemd)  # tests/test_deploy.py: unit checks

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
# de-duplicate
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "install-system: installing ${need[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system: root is needed to install ${need[*]} (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian packages start their services through systemd where it runs; redline starts its
# own instances on loopback in temp dirs, so stop any that the package started.
for svc in prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter \
    prometheus-postgres-exporter pgbouncer mtail postgresql victoria-metrics nginx; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
