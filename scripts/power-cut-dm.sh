#!/usr/bin/env bash
# Power cuts on a real kernel: `scripts/power-cut-dm.sh [rounds]` (default 20) puts an ext4
# filesystem on a loop device behind device-mapper's `flakey` target, publishes numbered lines
# with `ringbus publish` (Sync: each offset is printed once fsynced), and at a random moment
# switches the target to drop every write from then on (what a power cut does to the disk: the
# page cache, the journal's later commits and every unsynced write are gone), kills the
# publisher, unmounts, lets writes through again, remounts (ext4 replays its journal) and
# checks with `ringbus verify` and `ringbus tail` that every acknowledged line is there, in
# order, and that nothing else is. Rounds share the filesystem, so each also recovers the
# previous round's cut.
#
# This checks fsync and directory-fsync placement against a real filesystem; it does not
# reorder writes (the simulator's rounds do: core/tests/power_loss_keeps_what_was_acknowledged.rs).
# dm-log-writes, which replays a write log at every flush point, needs xfstests' replay-log
# tool, which Debian does not package; flakey needs only dmsetup.
#
# Needs root, losetup, dmsetup, mkfs.ext4 and a kernel with device-mapper's flakey target.
# Where any is missing it says which and exits 0: the simulator's rounds then stand alone.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
why=""
[ "$(id -u)" = 0 ] || why="it needs root"
for tool in losetup dmsetup mkfs.ext4 blockdev; do
  command -v "$tool" >/dev/null || why="${why:+$why; }$tool is missing"
done
if [ -z "$why" ] && ! dmsetup targets 2>/dev/null | grep -q '^flakey'; then
  modprobe dm-flakey 2>/dev/null || true
  if ! dmsetup targets 2>/dev/null | grep -q '^flakey'; then
    why="this kernel has no device-mapper flakey target ($(dmsetup targets 2>&1 | head -1 || true))"
  fi
fi
if [ -n "$why" ]; then
  echo "SKIPPED real-kernel power cuts: $why."
  echo "The power-loss simulator's rounds (core/tests/power_loss_keeps_what_was_acknowledged.rs) stand."
  exit 0
fi

cargo build --release --locked -p ringbus-cli
bin="$PWD/target/release/ringbus"
work=$(mktemp -d)
mnt="$work/mnt"
mkdir -p "$mnt"
truncate -s 512M "$work/disk.img"
loop=$(losetup -f --show "$work/disk.img")
sectors=$(blockdev --getsz "$loop")
name="ringbus-flakey-$$"
dev="/dev/mapper/$name"
cleanup() {
  umount "$mnt" 2>/dev/null || true
  dmsetup remove "$name" 2>/dev/null || true
  losetup -d "$loop" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
table() { # up seconds, down seconds, features...
  echo "0 $sectors flakey $loop 0 $*"
}
reload() {
  dmsetup suspend --nolockfs --noflush "$name"
  dmsetup load "$name" --table "$(table "$@")"
  dmsetup resume "$name"
}
dmsetup create "$name" --table "$(table 3600 0)"
mkfs.ext4 -q "$dev"

acked_total=0
next=1
for round in $(seq 1 "$rounds"); do
  mount "$dev" "$mnt"
  seq "$next" $((next + 999999)) | "$bin" publish "$mnt/data" lines --durability sync > "$work/acked" 2> "$work/err" &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  # The power fails: from here on the disk takes no write.
  reload 0 3600 1 drop_writes
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  umount "$mnt"
  reload 3600 0
  mount "$dev" "$mnt"
  acked=$(wc -l < "$work/acked")
  "$bin" verify "$mnt/data" > "$work/verify" || { cat "$work/verify"; echo "round $round: verify found damage"; exit 1; }
  "$bin" tail "$mnt/data" lines --from earliest --format raw > "$work/read"
  # Every acknowledged line of this round, in order, right where the earlier rounds' end.
  python3 - "$work/read" "$next" "$acked" <<'PY'
import sys
lines = [int(l) for l in open(sys.argv[1]) if l.strip()]
first, acked = int(sys.argv[2]), int(sys.argv[3])
mine = [n for n in lines if n >= first]
assert mine[:acked] == list(range(first, first + acked)), f"acknowledged lines missing from {first}"
assert all(b == a + 1 for a, b in zip(mine, mine[1:])), "lines out of order or duplicated"
before = [n for n in lines if n < first]
assert before == list(range(1, first)) or first == 1, "an earlier round's lines changed"
PY
  kept=$(awk -v f="$next" '$1 >= f' "$work/read" | wc -l)
  echo "round $round: $acked acknowledged, $kept kept (the rest were never acknowledged)"
  acked_total=$((acked_total + acked))
  next=$((next + kept))
  umount "$mnt"
done
echo "real-kernel power cuts: $rounds rounds, $acked_total acknowledged lines checked, none lost"
