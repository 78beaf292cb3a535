#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit/integration/doc tests, the C API from
# C and C++ (scripts/c-tests.sh), the Python package (scripts/python-tests.sh), the
# durability tests on both I/O backends, fuzzing, the multi-thread stress tests (release), the loom models, the criterion
# benches once, and a quick run of the comparison harness (which aborts on a wrong count or
# checksum).
# Needs the Rust toolchain (cargo, rustfmt, clippy), gcc/g++ and python3; fetches crates from
# crates.io and Python packages from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (all targets, -D warnings)"
# With the test command's features, so the fault-injecting backend and the power-loss
# simulator are linted too.
cargo clippy --workspace --all-targets --locked --features ringbus/fault-injection,ringbus/power-loss -- -D warnings

step "fmt and clippy of the fuzz workspace, and clippy of the loom build (-D warnings)"
# fuzz/ is a workspace of its own (cargo fuzz builds it with nightly and sanitizers), so the
# steps above do not see it; loom builds compile the ring and its models alone.
cargo fmt --manifest-path fuzz/Cargo.toml --check
CARGO_TARGET_DIR=target/fuzz-lint cargo clippy --manifest-path fuzz/Cargo.toml --locked --all-targets -- -D warnings
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo clippy --locked -p ringbus --lib --profile test -- -D warnings

step "docs (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "unit, integration and doc tests (persisted topics on the pwrite/fdatasync backend: RINGBUS_IO=std; power cuts under the simulator)"
RINGBUS_IO=std cargo test --workspace --locked --features ringbus/fault-injection,ringbus/power-loss

step "C API: tests and examples from C and C++, plain, under ASan+UBSan, under valgrind; pkg-config and static linking"
scripts/c-tests.sh

step "Python package: venv, maturin build (release), pytest, stubtest, quick benchmark"
scripts/python-tests.sh

DURABILITY_TESTS=(--test persisted_topics_survive_reopen --test crash_loses_no_acknowledged_event
  --test log_damage_is_handled --test failed_writes_poison_the_partition --test retention_deletes_whole_old_segments
  --test durable_groups_resume_where_they_committed --test timestamp_seeks --test idempotent_publish_drops_duplicates
  --test follower_reads_a_live_directory --test follower_processes)
step "durability tests on the io_uring backend (forced)"
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != "0" ]; then
  echo "SKIPPED: io_uring is disabled on this machine (kernel.io_uring_disabled); the tests above ran on the std backend"
else
  RINGBUS_IO=uring cargo test --locked -p ringbus --features fault-injection "${DURABILITY_TESTS[@]}"
fi

step "fuzzing: each target for ${FUZZ_SECONDS:-30} s (needs a nightly toolchain)"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
  for target in frame_decoder recovery ops_model power_loss follower; do
    mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
    # A crash fails this step; its input lands in fuzz/artifacts/$target/: add it to
    # fuzz/regressions/$target/ so that cargo test replays it from then on.
    rc=0
    (cd fuzz && cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=4096) > "target/fuzz-$target.log" 2>&1 || rc=$?
    grep -E '^(#[0-9]+ +DONE|Done)' "target/fuzz-$target.log" || true
    if [ "$rc" -ne 0 ]; then
      tail -40 "target/fuzz-$target.log"
      echo "fuzz target $target failed (exit $rc): target/fuzz-$target.log, input in fuzz/artifacts/$target/"
      exit 1
    fi
  done
else
  echo "SKIPPED: no nightly toolchain here (rustup toolchain list); cargo test replayed fuzz/regressions and a fixed sweep instead"
fi

step "power cuts on a real kernel (device-mapper flakey), where this machine has it"
scripts/power-cut-dm.sh 5

step "stress tests across real threads (release); a release build ignores RINGBUS_IO_FAULT"
cargo test --release --locked -p ringbus --test stress_many_threads --test failed_writes_poison_the_partition

step "loom models"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" CARGO_TARGET_DIR=target/loom \
  cargo test --release --locked -p ringbus --lib loom

step "criterion benches compile and run once"
cargo bench --locked -p ringbus-benches --bench hot_paths -- --test

step "fio for the disk baseline of the harness"
if ! command -v fio >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q fio >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q fio >/dev/null; }
  fi
fi
command -v fio >/dev/null && fio --version || echo "fio is missing and could not be installed: the harness will leave out its disk lines"

step "comparison harness, quick (every run checks its counts and checksums; figures not judged)"
timeout 600 cargo run --release --locked -p ringbus-benches --bin compare -- --quick --json > target/compare-quick.jsonl
echo "$(wc -l < target/compare-quick.jsonl) results written to target/compare-quick.jsonl"

step "IoT pipeline on ringbus, crossbeam-channel, Redis Streams and NATS JetStream, 1 s each (every run's aggregates checked)"
# benches/peers.sh installs redis-server and nats-server (Debian) when it can, and says so when not.
benches/peers.sh --duration 1 --json > target/iot-peers.jsonl
echo "$(wc -l < target/iot-peers.jsonl) systems ran; results in target/iot-peers.jsonl"

echo
echo "all checks passed"
