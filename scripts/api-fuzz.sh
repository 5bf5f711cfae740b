#!/usr/bin/env bash
# Runs schemathesis against `drove serve` with docs/openapi.yaml: requests generated from the
# description (valid and invalid), each answer checked for a 5xx, an undescribed status or
# media type, and a body that does not match its schema. Not part of CI's tests.
#
#   scripts/api-fuzz.sh [SECONDS]         a time budget (default 120)
#   scripts/api-fuzz.sh --examples N      at most N cases per operation instead
#   extra arguments after these go to `schemathesis run` (e.g. --seed 1 --mode positive)
#
# Installs schemathesis from PyPI into a venv under .build (once), builds drove, starts
# `drove serve` on 127.0.0.1 (a free port, a data directory and a token file in a temporary
# directory, no hosts), runs schemathesis with the token, stops the server. Exit status 0 only
# if schemathesis found nothing and the server is still up at the end.
# GET /api/v1/watch is left out: its answer is a stream that never ends, so schemathesis could
# only time out on it (OpenAPITests reads its head instead).
set -euo pipefail
cd "$(cd "$(dirname "$0")/.." && pwd -P)"

budget=(--max-time 120)
case "${1:-}" in
    --examples) budget=(--max-examples "$2"); shift 2 ;;
    ''|-*) ;;
    *) budget=(--max-time "$1"); shift ;;
esac

venv=.build/api-fuzz-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi

swift build --product drove
drove=$(swift build --show-bin-path)/drove

work=$(mktemp -d "${TMPDIR:-/tmp}/drove-api-fuzz.XXXXXX")
server=
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server"
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$work/token"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/repos" "$work/credentials"
echo "hook-secret" >"$work/credentials/hook"
"$drove" serve --host 127.0.0.1 --port "$port" --data-dir "$work/state" --token-file "$work/token" \
    --repository-dir "$work/repos" --credentials-dir "$work/credentials" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; echo "drove serve did not start" >&2; exit 1; }
    sleep 0.2
done
echo "drove serve on 127.0.0.1:$port (pid $server, log $work/serve.log)" >&2

# Something to read, change and delete (the examples in the description name `web` and
# `fleet`): a Host whose libvirt socket does not exist, a pushed template image, a VM set on
# them, and a GitSource of a local repository that does not exist, with a webhook secret.
# Nothing leaves this machine.
api=http://127.0.0.1:$port/api/v1
auth="Authorization: Bearer $(cat "$work/token")"
qemu-img create -q -f qcow2 "$work/tiny.qcow2" 16M
curl -fsS -X PUT -H "$auth" --data-binary @"$work/tiny.qcow2" "$api/templates/tiny/image?format=qcow2&visibility=shared" >/dev/null
curl -fsS -X POST -H "$auth" -H 'Content-Type: application/yaml' --data-binary @- "$api/apply?name=seed.yaml" >/dev/null <<EOF
apiVersion: drove/v1
kind: Host
metadata: { name: nowhere, labels: { rack: a } }
spec: { uri: "qemu+unix:///system?socket=$work/libvirt-sock" }
---
apiVersion: drove/v1
kind: VMSet
metadata: { name: web }
spec: { replicas: 2, template: tiny }
---
apiVersion: drove/v1
kind: GitSource
metadata: { name: fleet }
spec:
  url: file://$work/repos/fleet.git
  ref: { branch: main }
  webhookSecretRef: { path: $work/credentials/hook }
EOF

set +e
"$venv/bin/schemathesis" run docs/openapi.yaml --url "http://127.0.0.1:$port" \
    --header "Authorization: Bearer $(cat "$work/token")" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /api/v1/watch --workers 1 --request-timeout 30 "${budget[@]}" \
    --report junit --report-dir .build/api-fuzz-report "$@"
status=$?
set -e

if ! kill -0 "$server" 2>/dev/null; then
    echo "drove serve is no longer running; its log:" >&2
    tail -50 "$work/serve.log" >&2
    exit 1
fi
if grep -q "request failed" "$work/serve.log"; then
    echo "the server logged failed requests:" >&2
    grep "request failed" "$work/serve.log" | sort | uniq -c | sort -rn | head -20 >&2
fi
exit $status
