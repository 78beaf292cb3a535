#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit/integration/doc tests, the C API from
# C and C++, the Python package (scripts/python-tests.sh), the durability tests on both I/O
# backends, fuzzing, the multi-thread stress tests (release), the loom models, the criterion
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
# With the test command's features, so the fault-injecting backend is linted too.
cargo clippy --workspace --all-targets --locked --features ringbus/fault-injection -- -D warnings

step "docs (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "unit, integration and doc tests (persisted topics on the pwrite/fdatasync backend: RINGBUS_IO=std)"
RINGBUS_IO=std cargo test --workspace --locked --features ringbus/fault-injection

step "C API: tests and examples from C and C++, plain, under ASan+UBSan, under valgrind; pkg-config and static linking"
# The header freshness test ran with the tests above; build libringbus.so/.a (debug) here.
# The same features as the tests above, so nothing is built twice.
cargo build --locked -p ringbus-ffi --features ringbus/fault-injection
mkdir -p target/c
CWARN=(-Wall -Wextra -Werror -pedantic -Iffi/include)
LIBS=(-Ltarget/debug -lringbus)
gcc -std=c11 "${CWARN[@]}" ffi/tests/c/api_test.c "${LIBS[@]}" -o target/c/api_test
g++ -std=c++17 "${CWARN[@]}" ffi/tests/c/header_cpp.cpp "${LIBS[@]}" -o target/c/header_cpp
gcc -std=c11 "${CWARN[@]}" ffi/examples/producer.c "${LIBS[@]}" -o target/c/producer
gcc -std=c11 "${CWARN[@]}" ffi/examples/consumer.c "${LIBS[@]}" -o target/c/consumer
g++ -std=c++17 "${CWARN[@]}" ffi/examples/ingest.cpp "${LIBS[@]}" -lpthread -o target/c/ingest
SAN=(-g -fsanitize=address,undefined -fno-omit-frame-pointer)
gcc -std=c11 "${SAN[@]}" "${CWARN[@]}" ffi/tests/c/api_test.c "${LIBS[@]}" -o target/c/api_test_asan
gcc -std=c11 "${SAN[@]}" "${CWARN[@]}" ffi/examples/producer.c "${LIBS[@]}" -o target/c/producer_asan
gcc -std=c11 "${SAN[@]}" "${CWARN[@]}" ffi/examples/consumer.c "${LIBS[@]}" -o target/c/consumer_asan
g++ -std=c++17 "${SAN[@]}" "${CWARN[@]}" ffi/examples/ingest.cpp "${LIBS[@]}" -lpthread -o target/c/ingest_asan
export LD_LIBRARY_PATH="$PWD/target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
target/c/header_cpp
# expect <output file> <line>: the program's output must contain the line.
expect() { grep -qxF "$2" "$1" || { echo "expected \"$2\" in:"; cat "$1"; exit 1; }; }
for suffix in "" _asan; do
  rm -rf target/c/data
  "target/c/api_test$suffix" target/c/data
  # The producer/consumer pair: a second run of each continues where the first left off.
  "target/c/producer$suffix" target/c/data 5000 > target/c/out && expect target/c/out "published 5000 readings, checksum 12497500"
  "target/c/consumer$suffix" target/c/data > target/c/out && expect target/c/out "consumed 5000 readings, checksum 12497500"
  "target/c/producer$suffix" target/c/data 1000 > target/c/out && expect target/c/out "published 1000 readings, checksum 499500"
  "target/c/consumer$suffix" target/c/data > target/c/out && expect target/c/out "consumed 1000 readings, checksum 499500"
  "target/c/ingest$suffix" 20000 > target/c/out && expect target/c/out "ingest: ok"
done
if command -v valgrind >/dev/null; then
  VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
  rm -rf target/c/data && "${VG[@]}" target/c/api_test target/c/data
  "${VG[@]}" target/c/producer target/c/data 200 > target/c/out && expect target/c/out "published 200 readings, checksum 19900"
  "${VG[@]}" target/c/consumer target/c/data > target/c/out && expect target/c/out "consumed 200 readings, checksum 19900"
else
  echo "SKIPPED valgrind: not installed (Debian: apt-get install -y valgrind)"
fi
# pkg-config from the build tree, and a static link.
PKG_CONFIG_PATH="$(dirname "$(ffi/make-pc.sh debug)")" && export PKG_CONFIG_PATH
if command -v pkg-config >/dev/null; then
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror ffi/examples/consumer.c $(pkg-config --cflags --libs ringbus) -o target/c/consumer_pc
  target/c/consumer_pc target/c/data > target/c/out && expect target/c/out "consumed 0 readings, checksum 0"
else
  echo "SKIPPED the pkg-config build: pkg-config is not installed (Debian: apt-get install -y pkg-config)"
fi
cc -std=c11 -Wall -Wextra -Werror -Iffi/include ffi/examples/producer.c target/debug/libringbus.a \
  -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o target/c/producer_static
! ldd target/c/producer_static | grep -q libringbus || { echo "producer_static links libringbus dynamically"; exit 1; }
target/c/producer_static target/c/data 10 > target/c/out && expect target/c/out "published 10 readings, checksum 45"
# The README's C program compiles and runs.
awk '/^## From C and C\+\+/{f=1} f&&/^```c$/{c=1;next} c&&/^```$/{exit} c{print}' README.md > target/c/readme.c
gcc -std=c11 "${CWARN[@]}" target/c/readme.c "${LIBS[@]}" -o target/c/readme
target/c/readme > target/c/out && expect target/c/out '{"sensor":17,"celsius":21.5} at offset 0'
unset PKG_CONFIG_PATH UBSAN_OPTIONS

step "Python package: venv, maturin build (release), pytest, stubtest, quick benchmark"
scripts/python-tests.sh

DURABILITY_TESTS=(--test persisted_topics_survive_reopen --test crash_loses_no_acknowledged_event
  --test log_damage_is_handled --test failed_writes_poison_the_partition --test retention_deletes_whole_old_segments
  --test durable_groups_resume_where_they_committed --test timestamp_seeks --test idempotent_publish_drops_duplicates)
step "durability tests on the io_uring backend (forced)"
if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" != "0" ]; then
  echo "SKIPPED: io_uring is disabled on this machine (kernel.io_uring_disabled); the tests above ran on the std backend"
else
  RINGBUS_IO=uring cargo test --locked -p ringbus --features fault-injection "${DURABILITY_TESTS[@]}"
fi

step "fuzzing: each target for ${FUZZ_SECONDS:-30} s (needs a nightly toolchain)"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
  for target in frame_decoder recovery ops_model; do
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
