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
(cd python && "$PY" -m mypy.stubtest ringbus --allowlist stubtest-allowlist.txt)
"$PY" python/benches/bench.py --quick
