#!/usr/bin/env bash
# Installs what Drove needs on a Debian 12 machine (run as root): libvirt's C library and
# headers, the libvirt and virtlog daemons with the QEMU driver, QEMU itself and qemu-img, and
# git (GitSource objects fetch with the git command line). The lab's libvirt networks need
# dnsmasq (DHCP), iptables (libvirt 9 writes an isolated network's firewall rules with it, inside
# each lab host's own network namespace) and ip; cloud-init seed images are made with xorriso.
# The portal's browser tests drive Debian's headless Chromium through chromedriver. The
# PostgreSQL store's tests run against a server of their own (scripts/postgres.sh) made with the
# binaries of Debian's postgresql package; the cluster the package may create and start on port
# 5432 is not used.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: run as root (apt-get install needs it)" >&2
    exit 1
fi

packages=(pkg-config libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils git
    dnsmasq-base iptables iproute2 xorriso chromium chromium-driver fonts-dejavu-core systemd postgresql)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt's privileged QEMU driver refuses to start without this user, even when QEMU runs as root.
id libvirt-qemu >/dev/null 2>&1 || useradd -r -s /usr/sbin/nologin libvirt-qemu

if ! command -v swift >/dev/null; then
    echo "install-deps: Swift 6 is not on PATH; install a Swift 6 toolchain (swift.org) first" >&2
    exit 1
fi
