#!/usr/bin/env bash
# The Python package's tests, from nothing but python3: a virtual environment in
# target/py-venv with python/requirements-dev.txt, the extension built in release mode into it
# (maturin develop, sharing the workspace's target directory; with the `bench` feature, whose
# helpers the benchmark times calls against), pytest, mypy's stubtest over
# the .pyi stubs, and a quick run of the Python benchmark (it checks counts and checksums).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/target/py-venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV" || {
    echo "python3 -m venv failed: install Python 3.11+ with venv (Debian: apt-get install -y python3-venv)"
    exit 1
  }
fi
"$PY" -m pip install -q --disable-pip-version-check -r python/requirements-dev.txt
(cd python && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" maturin develop --release --locked -q --features bench)
(cd python && "$PY" -m pytest -q -p no:cacheprovider tests)
# The README's live example: a C producer process publishing while a Python follower reads it
# into polars (the producer as scripts/c-tests.sh builds it).
cargo build --locked -q -p ringbus-ffi --features ringbus-core/fault-injection
mkdir -p target/c && rm -rf target/c/live
gcc -std=c11 -Wall -Wextra -Werror -pedantic -Iffi/include ffi/examples/producer.c -Ltarget/debug -lringbus -o target/c/producer
LD_LIBRARY_PATH="$PWD/target/debug" target/c/producer target/c/live 20000 10000 > target/c/live-producer.out &
producer=$!
"$PY" python/examples/follow_readings.py target/c/live 20000 > target/c/live-follower.out
wait "$producer"
grep -qxF "published 20000 readings, checksum 199990000" target/c/live-producer.out
grep -qxF "followed 20000 readings, checksum 199990000" target/c/live-follower.out || { cat target/c/live-follower.out; exit 1; }
echo "live example: a C producer and a Python follower agree on 20000 readings"
(cd python && "$PY" -m mypy.stubtest ringbus --allowlist stubtest-allowlist.txt)
"$PY" python/benches/bench.py --quick
