"""Followers: a Python process reads a topic that another process is publishing into, live,
into Arrow and polars; named followers resume; follower groups share partitions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import ringbus

# The owner: publishes `n` readings (sensor, value) in the given durability, slowly enough
# that the follower reads while it writes, then holds the directory until stdin closes.
OWNER = """
import struct, sys, time, ringbus
with ringbus.Bus(sys.argv[1]) as bus:
    topic = bus.topic("readings", partitions=2, durability=sys.argv[3], capacity=1 << 20, max_payload=1024)
    print("ready", flush=True)
    n = int(sys.argv[2])
    for i in range(n):
        topic.publish(struct.pack("<Id", i % 7, i * 0.5), key=b"s%d" % (i % 7))
        if i % 500 == 0:
            time.sleep(0.01)
    print("done", flush=True)
    sys.stdin.read()
"""


def start_owner(data_dir: Path, n: int, durability: str = "async") -> subprocess.Popen[str]:
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(OWNER), str(data_dir), str(n), durability],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    assert owner.stdout.readline().strip() == "ready"
    return owner


def stop(owner: subprocess.Popen[str]) -> None:
    assert owner.stdin is not None
    owner.stdin.close()
    assert owner.wait(timeout=30) == 0


def test_a_python_follower_reads_a_live_topic_into_polars(data_dir: Path) -> None:
    n = 5000
    owner = start_owner(data_dir, n)
    follower = ringbus.Follower(data_dir)
    assert follower.owner_pid == owner.pid
    assert follower.topics() == ["readings"]
    sub = follower.subscribe("readings", "earliest")
    frames = []
    got = 0
    deadline = time.monotonic() + 60
    while got < n and time.monotonic() < deadline:
        batch = sub.poll_batch(1000, timeout=1.0)
        if len(batch):
            frames.append(pl.from_arrow(pa.table(batch)))
            got += len(batch)
    stop(owner)
    df = pl.concat(frames)
    assert df.height == n
    values = df["payload"].map_elements(lambda b: b[4:], return_dtype=pl.Binary)
    assert sorted(values.to_list()) == sorted(__import__("struct").pack("<d", i * 0.5) for i in range(n))
    # Per partition, offsets only grow (the owner's order).
    for part in df.partition_by("partition"):
        offsets = part["offset"].to_list()
        assert offsets == sorted(offsets)


def test_durable_only_named_follower_resumes_where_it_committed(data_dir: Path) -> None:
    owner = start_owner(data_dir, 300, "sync")
    assert owner.stdout is not None
    assert owner.stdout.readline().strip() == "done"
    follower = ringbus.Follower(data_dir)
    sub = follower.subscribe("readings", "committed", durable_only=True, name="audit")
    first = sub.poll_batch(100, timeout=5.0)
    assert len(first) == 100
    sub.commit()
    with pytest.raises(ringbus.LockedError):
        follower.subscribe("readings", "committed", name="audit")
    sub.close()
    rest = []
    again = follower.subscribe("readings", "committed", name="audit")
    while batch := again.poll_batch(1000, timeout=0.5):
        rest.extend(batch)
    stop(owner)
    assert len(rest) == 200
    assert {(e.partition, e.offset) for e in first}.isdisjoint({(e.partition, e.offset) for e in rest})


def test_follower_group_members_share_the_partitions(data_dir: Path) -> None:
    owner = start_owner(data_dir, 1000)
    assert owner.stdout is not None
    assert owner.stdout.readline().strip() == "done"
    follower = ringbus.Follower(data_dir)
    a = follower.group("readings", "workers")
    b = follower.group("readings", "workers")
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + 30
    while len(seen) < 1000 and time.monotonic() < deadline:
        for member in (a, b):
            for e in member.poll_batch(500, timeout=0.05):
                seen.append((e.partition, e.offset))
    stop(owner)
    assert len(seen) == 1000 and len(set(seen)) == 1000
    a.commit()
    b.commit()


def test_memory_only_topics_and_bad_arguments(data_dir: Path) -> None:
    with ringbus.Bus(data_dir) as bus:
        bus.topic("scratch", durability="memory")
        follower = ringbus.Follower(data_dir)
        with pytest.raises(ringbus.NotPersistedError):
            follower.subscribe("scratch")
        with pytest.raises(ringbus.InvalidArgumentError):
            follower.subscribe("../escape")
        with pytest.raises(ValueError):
            follower.subscribe("readings", "committed")  # without a name
        with pytest.raises(ValueError):
            follower.group("readings", "g", start="yesterday")
    # A directory that does not exist yet: nothing to read, no error.
    later = ringbus.Follower(data_dir.parent / "not-yet")
    assert later.topics() == [] and later.owner_pid is None
    assert later.subscribe("t").poll(timeout=0.05) is None
