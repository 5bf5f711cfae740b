#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (as root): installs what is needed, builds,
# starts a lab of 3 libvirt hosts for the integration tests, runs every test, and stops the lab
# again, whether the tests pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
swift build --build-tests
bash scripts/build-tiny-template.sh

# A lab of its own, so a lab the user started by hand is left alone.
export DROVE_LAB_DIR=${DROVE_LAB_DIR:-/var/lib/drove/lab-test}
drove=$(swift build --show-bin-path)/drove
stop_lab() { "$drove" lab down --dir "$DROVE_LAB_DIR" || true; }
trap stop_lab EXIT
"$drove" lab up --hosts 3 --dir "$DROVE_LAB_DIR"

# Under CI a test that needs the lab fails, never skips, when the lab is missing.
export CI=${CI:-true}
# One suite at a time: the integration suites share the lab hosts and two cores, and guests
# booting under TCG for several suites at once starve each other.
swift test --no-parallel
