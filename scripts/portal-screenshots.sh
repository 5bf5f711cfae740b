#!/usr/bin/env bash
# Saves a PNG of each portal page into docs/portal/ (signin, overview, templates, vms, deploy,
# vmset), taken by the browser test that deploys on the Deploy page. Needs a running lab
# (DROVE_LAB_DIR, default /var/lib/drove/lab) and the tiny template; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-tiny-template.sh
swift build --build-tests
DROVE_PORTAL_SCREENSHOTS="$PWD/docs/portal" swift test --skip-build --filter PortalBrowserTests.deployFromTheDeployPage
