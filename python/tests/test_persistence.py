"""Persisted topics across processes: what one process published (and what its group
committed) another process replays after reopening; one bus per data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

import ringbus

from conftest import drain, run_python

PRODUCER = """
import sys, ringbus
with ringbus.Bus(sys.argv[1]) as bus:
    topic = bus.topic("readings", partitions=2, durability="sync")
    n = int(sys.argv[2])
    topic.publish_many([b"r%d" % i for i in range(n)], keys=[b"s%d" % (i % 5) for i in range(n)])
    member = topic.group("archive")
    got = member.poll_batch(n // 2, timeout=5.0)
    member.commit()
    print(len(got))
"""


def test_replay_across_a_reopen_in_another_process(data_dir: Path) -> None:
    child = run_python(PRODUCER, str(data_dir), "1000")
    committed_count = int(child.stdout)
    assert 0 < committed_count <= 500
    with ringbus.Bus(data_dir) as bus:
        assert bus.topics() == ["readings"]
        topic = bus.topic("readings")
        assert topic.partitions == 2 and topic.durability == "sync"
        got = drain(topic.subscribe("earliest"))
        assert sorted(int(e.payload[1:]) for e in got) == list(range(1000))
        # Per key (so per partition) the order is the publish order.
        for key in {e.key for e in got}:
            values = [int(e.payload[1:]) for e in got if e.key == key]
            assert values == sorted(values)
        # The group resumes after what the other process committed.
        remaining = drain(topic.group("archive"))
        assert len(remaining) == 1000 - committed_count
        stats = topic.stats()
        assert stats["published"] == 0  # published by the other process, not this bus
        assert all(p["durable_offset"] == p["next_offset"] for p in stats["partitions"])


def test_a_data_directory_has_one_bus(data_dir: Path) -> None:
    with ringbus.Bus(data_dir) as bus:
        bus.topic("t", durability="async").publish(b"x")
        with pytest.raises(ringbus.LockedError):
            ringbus.Bus(data_dir)
        child = run_python(
            """
            import sys, ringbus
            try:
                ringbus.Bus(sys.argv[1])
            except ringbus.LockedError as e:
                print("locked:", e)
            """,
            str(data_dir),
        )
        assert child.stdout.startswith("locked:")


def test_a_member_cannot_commit_after_its_bus_closed(data_dir: Path) -> None:
    bus = ringbus.Bus(data_dir)
    topic = bus.topic("t", durability="async")
    topic.publish_many([b"%d" % i for i in range(10)])
    member = topic.group("g")
    assert len(member.poll_batch(4, timeout=1.0)) == 4
    committed = member.commit()
    bus.close()
    # The directory is free for another bus; the old member must not write into it.
    with ringbus.Bus(data_dir) as other:
        assert len(member.poll_batch(4, timeout=0)) == 4
        with pytest.raises(ringbus.ClosedError):
            member.commit()
        resumed = other.topic("t").group("g", start="committed")
        assert resumed.poll(timeout=1.0).payload == b"4", f"resumes at the commit {committed}"


def test_flush_waits_for_durability(data_dir: Path) -> None:
    with ringbus.Bus(data_dir, durability="async", async_max_delay_ms=5000) as bus:
        topic = bus.topic("t")
        assert topic.durability == "async"
        topic.publish_many([b"x" * 100] * 100)
        assert topic.flush(timeout=10.0) is True
        part = topic.stats()["partitions"][0]
        assert part["durable_offset"] == part["next_offset"] and part["segments"] >= 1


def test_options_are_the_configuration_tables_keys(data_dir: Path) -> None:
    """Python's options are topic.conf's keys, in the same units, and reach the file."""
    with ringbus.Bus(data_dir, durability="async", async_max_delay_ms=2.5) as bus:
        bus.topic("t", dedup_window_ms=1500, retention_ms=60_000, wait="yield", capacity=1 << 20, max_payload=1000)
    conf = (data_dir / "t" / "topic.conf").read_text().splitlines()
    for line in [
        "durability=async:2500",
        "async_max_delay_ms=2.5",
        "dedup_window_ms=1500",
        "retention_ms=60000",
        "wait=yield",
        "capacity=1048576",
        "max_payload=1000",
    ]:
        assert line in conf, f"{line} in {conf}"
    # The options of earlier releases, in seconds, still work and say what replaces them.
    with pytest.warns(DeprecationWarning, match="dedup_window_ms"):
        with ringbus.Bus(data_dir) as bus:
            bus.topic("u", durability="sync", dedup_window=2.0)
    assert "dedup_window_ms=2000" in (data_dir / "u" / "topic.conf").read_text().splitlines()


def test_corrupt_log_is_reported(data_dir: Path) -> None:
    with ringbus.Bus(data_dir) as bus:
        topic = bus.topic("t", durability="sync")
        topic.publish_many([b"event %d" % i for i in range(100)])
    segments = sorted((data_dir / "t").rglob("*.seg"))
    assert segments, "a segment file"
    data = bytearray(segments[0].read_bytes())
    data[64 + 30] ^= 0xFF  # inside the first frame's payload, below the durable mark
    segments[0].write_bytes(bytes(data))
    with pytest.raises(ringbus.CorruptLogError) as damaged:
        ringbus.Bus(data_dir)
    assert damaged.value.position == 0 and damaged.value.segment.endswith(".seg")
