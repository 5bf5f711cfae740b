#!/usr/bin/env bash
# Fuzzes the manifest loader and the apply route's request decoding (Sources/drove-fuzz) with
# libFuzzer for a fixed budget: scripts/fuzz.sh [SECONDS] (default 300). Not part of CI's tests.
#
# Builds with -sanitize=fuzzer,address into .build-fuzz (apart from .build: every module is
# instrumented), then runs over the seed corpus kept in the repository (Tests/Fuzz/corpus, the
# hostile corpus, manifests/examples). New corpus entries go to a fresh temporary directory
# (printed; merge the useful ones into Tests/Fuzz/corpus with -merge=1), crash, timeout and
# out-of-memory files to $DROVE_FUZZ_ARTIFACTS (default .build-fuzz/artifacts). Exit status 0
# only if the run found nothing. Replay a file without the fuzzer: swift run drove-fuzz FILE.
set -euo pipefail
cd "$(cd "$(dirname "$0")/.." && pwd -P)"

seconds=${1:-300}
scratch=.build-fuzz
artifacts=${DROVE_FUZZ_ARTIFACTS:-$scratch/artifacts}

# -D DROVE_FUZZ leaves out the replayer's @main: libFuzzer brings its own main.
flags=(-c debug --scratch-path "$scratch" --sanitize fuzzer --sanitize address
       -Xswiftc -DDROVE_FUZZ -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table)
# Swift 6.3's SwiftPM left this package's modules without coverage instrumentation when it
# rebuilt them over an earlier build in this scratch path (after --show-bin-path had planned
# without these flags), and the fuzzer then saw little beyond libyaml's C. So the products are
# built afresh (about 2 minutes, the checkouts kept), and fuzzing blind is refused.
rm -rf "$scratch/x86_64-unknown-linux-gnu" "$scratch/debug" "$scratch/build.db" "$scratch/debug.yaml"
swift build --product drove-fuzz "${flags[@]}"
bin=$scratch/debug
for module in DroveManifest DroveAPI drove_fuzz Yams; do
    # grep -c reads everything: grep -q would stop early, and objdump's SIGPIPE fail the pipe.
    if [ "$(objdump -h "$bin/$module.build/"*.o 2>/dev/null | grep -c sancov)" -eq 0 ]; then
        echo "$module was built without coverage instrumentation; refusing to fuzz blind" >&2
        exit 1
    fi
done
fuzzer=$bin/drove-fuzz

new=$(mktemp -d "${TMPDIR:-/tmp}/drove-fuzz-corpus.XXXXXX")
mkdir -p "$artifacts"
echo "fuzzing for ${seconds}s; new corpus entries in $new, findings in $artifacts/" >&2

# -timeout: an input that takes 5 s is a hang; -rss_limit_mb: one that needs 2 GiB a blow-up.
# -max_len: manifests that matter to the fuzzer are small; the size limits have their own tests.
set +e
"$fuzzer" "$new" Tests/Fuzz/corpus Tests/DroveManifestTests/Hostile manifests/examples \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "${@:2}"
status=$?
set -e
echo "new corpus entries: $(find "$new" -type f | wc -l) in $new" >&2
exit $status
