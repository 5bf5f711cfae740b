#!/usr/bin/env bash
# The fault campaign of docs/reliability.md: 20 seeded trials each of `drove serve` and `drove up`
# killed mid-rollout, 5 each of a host's libvirtd killed, a template copy cut off and things
# removed behind Drove's back, and 3 minutes of 10 clients at once, all on a lab of its own.
# Prints the tables, writes faults-*.json, and takes its lab down again. About 25 minutes.
#   scripts/faults.sh                  # the campaign (a random seed, printed)
#   scripts/faults.sh --seed 42        # the same campaign again
#   CONFIG=release scripts/faults.sh   # against a release build
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-debug}
lab=${DROVE_FAULTS_LAB:-/var/lib/drove/lab-faults}

bash scripts/install-deps.sh
swift build -c "$config" --product drove
swift build -c "$config" --product drove-bench
bin=$(swift build -c "$config" --show-bin-path)
# Copies, so a rebuild while the campaign runs does not change the binaries under it.
work=$(mktemp -d /var/tmp/drove-faults.XXXXXX)
cp "$bin/drove" "$bin/drove-bench" "$work/"
stop() { "$work/drove" lab down --dir "$lab" || true; rm -rf "$work"; }
trap stop EXIT

seed=${SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
faults() { "$work/drove-bench" faults --lab-dir "$lab" --scratch "$work/scratch" --seed "$seed" "$@"; }
status=0
faults serve-kill up-kill --trials 20 --json faults-kills.json "$@" || status=1
faults libvirtd-kill copy-cut behind-back --trials 5 --json faults-hosts.json "$@" || status=1
faults clients --trials 3 --json faults-clients.json "$@" || status=1
exit $status
