#!/usr/bin/env bash
# The long run: `scripts/soak.sh [minutes]` (default 30) runs the IoT pipeline on a persisted
# topic with retention by bytes and by age, a committing group, a fanout archiver and a reader
# that joins and leaves every few seconds (`ringbus bench soak`). Every 10 s it samples RSS,
# open file descriptors, the data directory's size and the largest reader lag into
# target/soak/soak.csv, and plots them (target/soak/soak-*.svg). Exits non-zero if an aggregate
# mismatches, an event is lost, RSS or descriptors grow after warm-up, or the directory holds
# more than retention plus one segment per partition. Extra arguments go to `bench soak`
# (see `ringbus bench soak --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
shift || true
cargo build --release --locked -p ringbus-cli
exec target/release/ringbus bench soak --minutes "$minutes" --out target/soak "$@"
