#!/usr/bin/env bash
# Installs drove as a system service: the binary in /usr/local/bin, the unit in
# /etc/systemd/system/drove.service, an admin token in /etc/drove/admin-token (made if there is
# none; mode 0600, root's), and /etc/default/drove for `drove serve`'s options. Then, where
# systemd runs, it reloads it and enables and starts drove.
#   scripts/install.sh                     # builds a release binary first
#   scripts/install.sh --binary PATH       # installs that binary instead
#   DESTDIR=/tmp/root scripts/install.sh   # into another root (packaging); starts nothing
set -euo pipefail
cd "$(dirname "$0")/.."
root=${DESTDIR:-}
binary=
if [ "${1:-}" = "--binary" ]; then binary=$2; fi
if [ -z "$binary" ]; then
    swift build -c release --product drove
    binary=$(swift build -c release --show-bin-path)/drove
fi

install -D -m 0755 "$binary" "$root/usr/local/bin/drove"
install -D -m 0644 scripts/systemd/drove.service "$root/etc/systemd/system/drove.service"
install -d -m 0755 "$root/etc/drove"
if [ ! -s "$root/etc/drove/admin-token" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '=+/\n' > "$root/etc/drove/admin-token")
fi
chmod 0600 "$root/etc/drove/admin-token"
if [ ! -e "$root/etc/default/drove" ]; then
    install -D -m 0600 /dev/null "$root/etc/default/drove"
    cat > "$root/etc/default/drove" <<'OPTIONS'
# Options for `drove serve` (see `drove serve --help`). Beyond loopback it needs TLS:
# DROVE_SERVE_OPTIONS="--host 0.0.0.0 --tls-cert /etc/drove/tls.crt --tls-key /etc/drove/tls.key"
# Several replicas on PostgreSQL (docs/ha.md); the password here, not in the URL:
# PGPASSWORD=...
# DROVE_SERVE_OPTIONS="--store postgres://drove@db.example/drove?sslmode=require --host 0.0.0.0 ..."
DROVE_SERVE_OPTIONS=""
OPTIONS
fi
echo "installed: $root/usr/local/bin/drove, $root/etc/systemd/system/drove.service, $root/etc/drove/admin-token"

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now drove.service
    systemctl try-restart drove.service # an upgrade: the new binary
    systemctl --no-pager status drove.service | head -5
else
    echo "systemd is not running here: start it with 'systemctl enable --now drove' where it is"
fi
