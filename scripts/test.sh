#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (as root): installs what is needed, builds,
# starts a lab of 3 libvirt hosts for the integration tests, runs every test, and stops the lab
# again, whether the tests pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
swift build --build-tests
bash scripts/build-tiny-template.sh

# A lab of its own, so a lab the user started by hand is left alone; and a PostgreSQL server of
# its own for the PostgreSQL store's tests. Both are stopped on exit, each even if the other fails.
export DROVE_LAB_DIR=${DROVE_LAB_DIR:-/var/lib/drove/lab-test}
postgres_dir=${DROVE_POSTGRES_DIR:-/var/lib/drove/postgres-test}
postgres_port=${DROVE_POSTGRES_PORT:-55432}
drove=$(swift build --show-bin-path)/drove
stop_lab() { "$drove" lab down --dir "$DROVE_LAB_DIR" || true; }
stop_postgres() { bash scripts/postgres.sh stop "$postgres_dir" || true; }
stop_all() { stop_lab; stop_postgres; }
trap stop_all EXIT
"$drove" lab up --hosts 3 --dir "$DROVE_LAB_DIR"
bash scripts/postgres.sh start "$postgres_dir" "$postgres_port" >/dev/null
DROVE_TEST_POSTGRES_URL=$(cat "$postgres_dir/url")
export DROVE_TEST_POSTGRES_URL

# Under CI a test that needs the lab or the PostgreSQL server fails, never skips, when it is missing.
export CI=${CI:-true}
# One suite at a time: the integration suites share the lab hosts and two cores, and guests
# booting under TCG for several suites at once starve each other.
swift test --no-parallel
