#!/usr/bin/env bash
# Runs `ringbus bench iot --peers` with Redis Streams and NATS JetStream beside ringbus and
# crossbeam-channel. Installs Debian's redis-server and nats-server when missing (as root with
# apt-get), starts them on 127.0.0.1 only with their data in a temporary folder, and stops
# them afterwards. Where a server is missing and cannot be installed, the bench says so and
# runs the rest. Arguments go to `bench iot` (e.g. --duration 10 --format binary --json).
#
#   benches/peers.sh [bench iot arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
REDIS_PORT=${REDIS_PORT:-6390}
NATS_PORT=${NATS_PORT:-4290}

install() { # install <command> <package>
  command -v "$1" >/dev/null && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q "$2" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null 2>&1; } || true
  fi
  command -v "$1" >/dev/null || echo "peers.sh: $1 is missing and could not be installed (Debian: apt-get install $2)" >&2
}
install redis-server redis-server
install nats-server nats-server

DATA=$(mktemp -d "${TMPDIR:-/tmp}/ringbus-peers.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

wait_port() { # wait_port <port>: until something listens there (10 s at most)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

if command -v redis-server >/dev/null; then
  # AOF with an fsync every second: the closest Redis comes to ringbus's async durability.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes --dir "$DATA" \
    --appendonly yes --appendfsync everysec --save '' --daemonize no --logfile "$DATA/redis.log" &
  PIDS+=($!)
  wait_port "$REDIS_PORT" || echo "peers.sh: redis-server did not start (see its log)" >&2
fi
if command -v nats-server >/dev/null; then
  mkdir -p "$DATA/nats"
  nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$DATA/nats" -l "$DATA/nats.log" &
  PIDS+=($!)
  wait_port "$NATS_PORT" || echo "peers.sh: nats-server did not start (see its log)" >&2
fi

cargo run --release --locked -q -p ringbus-cli -- bench iot --peers \
  --redis "127.0.0.1:$REDIS_PORT" --nats "127.0.0.1:$NATS_PORT" "$@"
