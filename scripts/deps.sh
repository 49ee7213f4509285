#!/usr/bin/env bash
# System packages the test suites need (called by scripts/test.sh when executable):
# Debian's chromium and chromium-driver for the dashboard browser tests, and dnsmasq-base (Debian's
# dnsmasq without its system service) for the diagnosis's real-DNS namespace test, and nftables for
# its network-fault namespace test (refused and dropped upstream ports), busybox (its udhcpc, the
# terminals' DHCP client in the DHCP-churn namespace test, with dnsmasq as the server), fonts-wqy-zenhei (a CJK
# font, so the browser test's Chinese pages draw glyphs, not missing-glyph boxes), and postgresql for the
# PostgreSQL store's tests (scripts/pg-test-cluster.sh runs its server binaries). Skips what is
# installed; without apt-get or root it says so and leaves those tests to skip with their reason.
set -euo pipefail

need=()
for pkg in chromium chromium-driver dnsmasq-base nftables busybox fonts-wqy-zenhei; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        need+=("$pkg")
    fi
done
# The PostgreSQL server binaries (initdb, pg_ctl) of any installed major version will do.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need+=(postgresql)
fi
if [[ ${#need[@]} -eq 0 ]]; then
    echo "system packages: chromium, chromium-driver, dnsmasq-base, nftables, busybox, fonts-wqy-zenhei and postgresql already installed" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "system packages: no apt-get here; the browser, real-DNS and PostgreSQL tests will skip (missing: ${need[*]})" >&2
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "system packages: not root; the browser, real-DNS and PostgreSQL tests will skip (missing: ${need[*]})" >&2
        exit 0
    fi
fi
echo "system packages: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
