#!/usr/bin/env bash
# Drove's main job on one fresh Debian machine (as root): install what is needed, build Drove,
# build a tiny bootable guest template, start a lab of three libvirt hosts, validate the
# example manifests and deploy them onto the lab, then show the result.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
swift build -c release
drove=$(swift build -c release --show-bin-path)/drove

bash scripts/build-tiny-template.sh
"$drove" lab up --hosts 3
"$drove" validate -f manifests/examples
"$drove" up -f manifests/examples --timeout 10m
echo
"$drove" lab status
cat <<TEXT

The example runs on the lab. Try:
  $drove plan -f manifests/examples        # nothing to do: the fleet matches
  $drove down -f manifests/examples        # remove what the example made
  $drove lab down                          # stop the lab hosts

Or run the always-on controller with its web portal (http://127.0.0.1:7480/):
  $drove serve --template-dir manifests/images &
  $drove apply -f manifests/examples --wait
  $drove template push manifests/images/tiny.qcow2 --name tiny2 --visibility shared
TEXT
