"""Every start position: earliest, latest, an offset, a datetime; groups from committed."""

from __future__ import annotations

import datetime

import pytest

import ringbus


def payloads(batch: ringbus.EventBatch) -> list[bytes]:
    return [e.payload for e in batch]


def test_earliest_is_the_default_and_latest_skips_history(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    topic.publish_many([b"old1", b"old2"])
    default = topic.subscribe()
    latest = topic.subscribe("latest")
    topic.publish(b"new")
    assert payloads(default.poll_batch(10, timeout=1.0)) == [b"old1", b"old2", b"new"]
    assert payloads(latest.poll_batch(10, timeout=1.0)) == [b"new"]


def test_offset_start(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    offsets = [topic.publish(b"e%d" % i) for i in range(5)]
    sub = topic.subscribe(offsets[3])
    assert payloads(sub.poll_batch(10, timeout=1.0)) == [b"e3", b"e4"]
    with pytest.raises(ringbus.OffsetError):
        topic.subscribe(offsets[3] + 1)  # inside an event
    with pytest.raises(ringbus.OffsetError):
        topic.subscribe(10**9)


def test_datetime_start(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    for minute in range(10):
        topic.publish(b"m%d" % minute, timestamp=base + datetime.timedelta(minutes=minute))
    sub = topic.subscribe(base + datetime.timedelta(minutes=7))
    assert payloads(sub.poll_batch(10, timeout=1.0)) == [b"m7", b"m8", b"m9"]


def test_group_starts(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    topic.publish(b"before")
    early = topic.group("early")
    late = topic.group("late", start="latest")
    topic.publish(b"after")
    assert payloads(early.poll_batch(10, timeout=1.0)) == [b"before", b"after"]
    assert payloads(late.poll_batch(10, timeout=1.0)) == [b"after"]
    with pytest.raises(ringbus.NotPersistedError):
        topic.group("resume", start="committed")
    with pytest.raises(ringbus.NotPersistedError):
        early.commit()


def test_committed_start_resumes_a_persisted_group(data_dir) -> None:
    with ringbus.Bus(data_dir) as bus:
        topic = bus.topic("orders", durability="sync")
        topic.publish_many([b"o%d" % i for i in range(10)])
        member = topic.group("billing")  # default start: committed, i.e. earliest the first time
        assert payloads(member.poll_batch(4, timeout=1.0)) == [b"o0", b"o1", b"o2", b"o3"]
        committed = member.commit()
        assert len(committed) == 1 and committed[0] > 0
    with ringbus.Bus(data_dir) as bus:
        member = bus.topic("orders").group("billing")
        assert payloads(member.poll_batch(100, timeout=1.0)) == [b"o%d" % i for i in range(4, 10)]
