#!/usr/bin/env bash
# Boots Drove's tiny guest image with QEMU directly (TCG, the device model Drove's domains use)
# and checks what its /init prints on the serial console.
#
# Usage: scripts/test-tiny-template.sh [IMAGE]            check (exit 1 naming what is missing)
#        scripts/test-tiny-template.sh --time N [IMAGE]   boot N times with a seed; print the
#            seconds from QEMU start to "drove-guest: ready" and QEMU's CPU seconds until then,
#            one line a boot, then the medians (checks nothing else)
# IMAGE defaults to <repo>/manifests/images/tiny.qcow2. Needs qemu-system-x86_64, xorriso, python3.
# Networking is QEMU's user network with restrict=on: the guest reaches nothing but QEMU's own
# DHCP server. The image is opened with snapshot=on, so it is never written.
set -euo pipefail

script=$(readlink -f "${BASH_SOURCE[0]}")
repo=$(dirname "$(dirname "$script")")
runs=0
if [[ ${1:-} == --time ]]; then runs=${2:?--time needs a count}; shift 2; fi
image=$(readlink -f "${1:-$repo/manifests/images/tiny.qcow2}")
[[ -f $image ]] || { echo "test-tiny-template: no image $image" >&2; exit 2; }
for tool in qemu-system-x86_64 xorriso python3; do
    command -v "$tool" >/dev/null || { echo "test-tiny-template: $tool is missing" >&2; exit 2; }
done

work=$(mktemp -d /tmp/drove-tiny-test.XXXXXX)
qemu_pid=
cleanup() {
    if [[ -n $qemu_pid ]]; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The NoCloud seed as Drove makes it: an ISO 9660 image labelled cidata.
mkdir -p "$work/seed"
printf 'instance-id: "i-test-1"\nlocal-hostname: t-1\n' >"$work/seed/meta-data"
printf '#!/bin/sh\necho "user-data-marker: running as $(id -u) on $(hostname)"\nexit 7\n' >"$work/seed/user-data"
xorriso -as mkisofs -quiet -V cidata -J -r -o "$work/seed.iso" "$work/seed" 2>/dev/null
# A second one: no local-hostname (instance-id names the host), #cloud-config, network-config.
mkdir -p "$work/seed2"
printf "instance-id: 'i-test-2'\n" >"$work/seed2/meta-data"
printf '#cloud-config\nhostname: ignored\n' >"$work/seed2/user-data"
printf 'version: 2\nethernets: {}\n' >"$work/seed2/network-config"
xorriso -as mkisofs -quiet -V cidata -J -r -o "$work/seed2.iso" "$work/seed2" 2>/dev/null

# boot NAME [SEED] [QEMU ARGS...]: starts QEMU in the background; console output goes to
# $work/NAME.log. The serial port is a unix socket too (with a log file), so the test can type on it.
boot() {
    local name=$1 seed=${2:-} cd=()
    shift $(($# < 2 ? $# : 2))
    rm -f "$work/$name".*
    if [[ -n $seed ]]; then
        # libvirt: <disk device='cdrom'> <target dev='hdc' bus='ide'/> = secondary master.
        cd=(-drive "file=$seed,if=none,id=cd0,format=raw,media=cdrom,readonly=on"
            -device ide-cd,drive=cd0,bus=ide.1,unit=0)
    fi
    qemu-system-x86_64 -machine pc -accel tcg -m 96 -nodefaults -no-user-config -display none \
        -drive "file=$image,if=none,id=d0,format=qcow2,snapshot=on" -device virtio-blk-pci,drive=d0 \
        "${cd[@]}" \
        -device virtio-serial-pci \
        -chardev "socket,id=qga,path=$work/$name.qga,server=on,wait=off" \
        -device virtserialport,chardev=qga,name=org.qemu.guest_agent.0 \
        -chardev "socket,id=ser0,path=$work/$name.ser,server=on,wait=off,logfile=$work/$name.log" \
        -serial chardev:ser0 \
        -qmp "unix:$work/$name.qmp,server=on,wait=off" \
        -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
        "$@" 2>"$work/$name.err" &
    qemu_pid=$!
}

stop() {
    [[ -n $qemu_pid ]] || return 0
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=
}

# wait_for NAME TEXT SECONDS: true once TEXT is on NAME's console.
wait_for() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        grep -qF -- "$2" "$work/$1.log" 2>/dev/null && return 0
        kill -0 "$qemu_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# QEMU's user+system CPU seconds so far (from /proc/PID/stat).
cpu_seconds() {
    local stat
    stat=$(<"/proc/$qemu_pid/stat")
    stat=${stat##*) }   # drop "pid (comm) "; fields then start at 3 (state)
    read -r -a f <<<"$stat"
    echo "scale=2; (${f[11]} + ${f[12]}) / $(getconf CLK_TCK)" | bc
}

# send_serial NAME TEXT / send_qmp NAME COMMAND: talk to the guest's console and to QEMU.
send_serial() {
    python3 - "$work/$1.ser" "$2" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
for c in sys.argv[2].encode():   # typed: QEMU drops what it has not read when the socket closes
    s.send(bytes([c])); time.sleep(0.02)
time.sleep(1); s.close()
EOF
}
send_qmp() {
    python3 - "$work/$1.qmp" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush(); f.readline()
s.close()
EOF
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

if ((runs > 0)); then
    command -v bc >/dev/null || { echo "test-tiny-template: bc is missing" >&2; exit 2; }
    : >"$work/times"; : >"$work/cpus"
    for ((i = 1; i <= runs; i++)); do
        start=$(date +%s.%N)
        boot "run$i" "$work/seed.iso"
        if wait_for "run$i" "drove-guest: ready" 120; then
            cpu=$(cpu_seconds)
            t=$(echo "$(date +%s.%N) - $start" | bc)
            printf 'boot %d: ready after %.2f s, %.2f CPU s\n' "$i" "$t" "$cpu"
            echo "$t" >>"$work/times"; echo "$cpu" >>"$work/cpus"
        else
            echo "boot $i: not ready within 120 s"; tail -n 5 "$work/run$i.log" 2>/dev/null || true
        fi
        stop
    done
    printf 'median of %d: ready after %.2f s, %.2f CPU s\n' "$(wc -l <"$work/times")" \
        "$(median <"$work/times")" "$(median <"$work/cpus")"
    exit 0
fi

failures=()
check() { # check NAME TEXT: TEXT must be on NAME's console
    grep -qF -- "$2" "$work/$1.log" || failures+=("$1: no \"$2\" on the console")
}

# 1. With a seed: hostname, user-data, DHCP, readiness, a shell on the console, power button.
boot seeded "$work/seed.iso"
wait_for seeded "drove-guest: ready" 90 || true
check seeded "drove-guest: hostname t-1"
check seeded "user-data-marker: running as 0 on t-1"
check seeded "drove-guest: user-data exited 7"
check seeded "drove-guest: address eth0 10.0.2.15/24"
check seeded "drove-guest: ready"
if grep -qF "drove-guest: ready" "$work/seeded.log"; then
    sleep 1   # let the shell print its prompt
    send_serial seeded $'echo console-$((6 * 7))\n'
    wait_for seeded "console-42" 20 || failures+=("seeded: the console shell did not answer 'echo console-\$((6 * 7))'")
    send_qmp seeded system_powerdown
    for ((i = 0; i < 300; i++)); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$qemu_pid" 2>/dev/null; then
        failures+=("seeded: still running 30 s after the ACPI power button")
    else
        check seeded "drove-guest: power button, powering off"
    fi
fi
stop
echo "--- console with a seed:"; cat "$work/seeded.log"

# 2. No seed, and a second NIC on a hub with nothing else on it (no DHCP server): still ready,
# after at most ~10 s of DHCP.
boot unseeded "" -netdev hubport,id=n1,hubid=1 -device virtio-net-pci,netdev=n1
wait_for unseeded "drove-guest: ready" 90 || true
check unseeded "drove-guest: no NoCloud seed"
check unseeded "drove-guest: address eth0 10.0.2.15/24"
check unseeded "drove-guest: no DHCP answer on eth1"
check unseeded "drove-guest: ready"
stop
echo "--- console without a seed:"; cat "$work/unseeded.log"

# 3. #cloud-config and network-config are reported, not run; instance-id names the host.
boot cloudconfig "$work/seed2.iso"
wait_for cloudconfig "drove-guest: ready" 90 || true
check cloudconfig "drove-guest: hostname i-test-2"
check cloudconfig "drove-guest: user-data is #cloud-config; this image runs only scripts"
check cloudconfig "drove-guest: network-config ignored: DHCP on every NIC"
check cloudconfig "drove-guest: ready"
stop
echo "--- console with a #cloud-config seed:"; cat "$work/cloudconfig.log"

# 4. A golden for instant clones: with the port org.drove.identity.0 the guest waits there
# before the seed and DHCP; given "v1 SEED MAC" it takes the MAC, answers ok, and goes on.
boot golden "$work/seed.iso" -chardev "socket,id=ident,path=$work/golden.ident,server=on,wait=off" \
    -device virtserialport,chardev=ident,name=org.drove.identity.0
wait_for golden "drove-guest: golden: waiting for an identity" 90 || true
check golden "drove-guest: golden: waiting for an identity"
if grep -qF "hostname t-1" "$work/golden.log"; then failures+=("golden: read its seed before its identity"); fi
answer=$(python3 - "$work/golden.ident" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(30)
s.sendall(b"v1 00112233445566778899aabbccddeeff 52:54:00:12:34:56\n")
data = b""
while b"\n" not in data:
    chunk = s.recv(64)
    if not chunk: break
    data += chunk
print(data.decode().strip())
PYEOF
) || true
[[ $answer == ok ]] || failures+=("golden: answered '$answer' to its identity, not ok")
wait_for golden "drove-guest: ready" 60 || true
check golden "drove-guest: identity: a clone; MACs 52:54:00:12:34:56"
check golden "drove-guest: hostname t-1"
check golden "drove-guest: address eth0 10.0.2.15/24"
check golden "drove-guest: clone t-1 random "
check golden "drove-guest: ready"
if grep -qF "drove-guest: ready" "$work/golden.log"; then
    sleep 1
    send_serial golden $'cat /sys/class/net/eth0/address\n'
    wait_for golden "52:54:00:12:34:56" 20 || true
    [[ $(grep -c "52:54:00:12:34:56" "$work/golden.log") -ge 2 ]] || failures+=("golden: eth0 does not have the MAC it was given")
fi
stop
echo "--- console of a golden given an identity:"; cat "$work/golden.log"

if ((${#failures[@]})); then
    printf 'test-tiny-template: FAIL: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "test-tiny-template: all checks passed"
