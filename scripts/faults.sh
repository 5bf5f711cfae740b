#!/usr/bin/env bash
# The fault campaign of docs/reliability.md: 20 seeded trials each of `drove serve` and `drove up`
# killed mid-rollout; 5 each of a host's libvirtd killed, a template copy cut off, things removed
# behind Drove's back and a pool too small; 3 minutes of 10 clients at once; 10 each of the leader
# of three replicas on PostgreSQL killed, and cut off from PostgreSQL; all on a lab of its own,
# which it takes down again (and the test PostgreSQL server, started if it was not running and
# then stopped). Prints the tables and writes .build/faults/*.json. About 55 min.
#   scripts/faults.sh                    # a random seed, printed
#   SEED=20261130 scripts/faults.sh      # that campaign again
#   scripts/faults.sh --deadline 600     # more options of `drove-bench faults` for every group
#   CONFIG=release scripts/faults.sh     # against a release build
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-debug}
lab=${DROVE_FAULTS_LAB:-/var/lib/drove/lab-faults}
seed=${SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}

bash scripts/install-deps.sh
swift build -c "$config" --product drove
swift build -c "$config" --product drove-bench
bin=$(swift build -c "$config" --show-bin-path)
# Copies, so a rebuild while the campaign runs does not change the binaries under it.
work=$(mktemp -d /var/tmp/drove-faults.XXXXXX)
cp "$bin/drove" "$bin/drove-bench" "$work/"
# Its own lab: taken down at the end only if this run started it.
started_lab=
[ -S "$lab/node-1/run/libvirt-sock" ] || started_lab=yes
# The PostgreSQL server of the failover faults (each trial makes and drops a database on it).
postgres_dir=${DROVE_POSTGRES_DIR:-/var/lib/drove/postgres-test}
started_postgres=
if ! { url=$(bash scripts/postgres.sh url "$postgres_dir" 2>/dev/null) && psql -X "$url" -Atqc 'select 1' >/dev/null 2>&1; }; then
    bash scripts/postgres.sh start "$postgres_dir" >/dev/null
    started_postgres=yes
fi
DROVE_TEST_POSTGRES_URL=$(bash scripts/postgres.sh url "$postgres_dir")
export DROVE_TEST_POSTGRES_URL
stop() {
    [ -z "$started_lab" ] || "$work/drove" lab down --dir "$lab" || true
    [ -z "$started_postgres" ] || bash scripts/postgres.sh stop "$postgres_dir" || true
    rm -rf "$work"
}
trap stop EXIT
mkdir -p .build/faults

faults() { "$work/drove-bench" faults --lab-dir "$lab" --scratch "$work/scratch" --seed "$seed" "$@"; }
status=0
faults serve-kill up-kill --trials 20 --json .build/faults/kills.json "$@" || status=1
faults libvirtd-kill copy-cut behind-back pool-full --trials 5 --json .build/faults/hosts.json "$@" || status=1
faults clients --trials 3 --json .build/faults/clients.json "$@" || status=1
faults leader-kill store-cut --trials 10 --json .build/faults/failover.json "$@" || status=1
exit $status
