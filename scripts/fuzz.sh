#!/usr/bin/env bash
# Long fuzzing: `scripts/fuzz.sh [seconds]` (default 600) runs every fuzz target for that long
# on both cores (libFuzzer -fork=2) and prints a table of executions and crashes per target,
# then how often the recovery target's corpus reaches recovery's rare paths (torn tails,
# time-index rebuilds, retention). frame_decoder and recovery run under AddressSanitizer;
# ops_model and power_loss, which open buses, start threads and write files on every input,
# run without a sanitizer (ASan halves their rate; the test command's fuzz step runs all four
# under ASan). Needs a nightly toolchain and cargo-fuzz (scripts/check.sh installs it).
# Crashing inputs land in fuzz/artifacts/<target>/; add them to fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
targets=(frame_decoder recovery ops_model power_loss follower)
declare -A sanitizer=([frame_decoder]=address [recovery]=address [ops_model]=none [power_loss]=none [follower]=address)
rows=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
  log="target/fuzz-long-$t.log"
  echo "== $t for $seconds s (sanitizer: ${sanitizer[$t]})"
  rc=0
  (cd fuzz && cargo +nightly fuzz run -O -s "${sanitizer[$t]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -fork=2 -rss_limit_mb=4096) > "$log" 2>&1 || rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -E 's/^#([0-9]+).*/\1/' <<< "$last")
  crashes=$(grep -oE 'crash: [0-9]+' <<< "$last" | grep -oE '[0-9]+$' || echo "?")
  [ "$rc" -ne 0 ] && { failed=1; tail -30 "$log"; }
  rows+=("$(printf '%-14s %12s %8s   %s' "$t" "${execs:-?}" "${crashes:-?}" "exit $rc")")
done
echo
printf '%-14s %12s %8s\n' target executions crashes
printf '%s\n' "${rows[@]}"
echo
echo "== recovery's rare paths, replaying fuzz/corpus/recovery"
RINGBUS_FUZZ_CORPUS="$PWD/fuzz/corpus/recovery" cargo test -q --locked -p ringbus --features power-loss \
  --test fuzz_regressions recovery_inputs_reach_the_rare_paths -- --nocapture 2>&1 | grep -E '^recovery inputs|test result'
exit "$failed"
