"""Fanout and group delivery, events and their fields, iteration."""

from __future__ import annotations

import datetime
import threading

import pytest

import ringbus


def test_every_subscription_sees_every_event_in_order(bus: ringbus.Bus) -> None:
    topic = bus.topic("readings")
    a = topic.subscribe("earliest")
    b = topic.subscribe("earliest")
    offsets = [topic.publish(f"reading {i}".encode()) for i in range(1000)]
    assert offsets == sorted(offsets) and len(set(offsets)) == 1000
    for sub in (a, b):
        got = []
        while len(got) < 1000:
            batch = sub.poll_batch(300, timeout=1.0)
            assert len(batch) > 0
            got.extend(e.payload for e in batch)
        assert got == [f"reading {i}".encode() for i in range(1000)]
        assert sub.poll(timeout=0) is None


def test_group_hands_each_event_to_one_member(bus: ringbus.Bus) -> None:
    topic = bus.topic("jobs", partitions=4)
    members = [topic.group("workers") for _ in range(3)]
    assert all(m.group == "workers" for m in members)
    total = 20_000
    topic.publish_many([i.to_bytes(4, "little") for i in range(total)], keys=[b"k%d" % (i % 97) for i in range(total)])
    seen: list[list[int]] = [[] for _ in members]

    def work(i: int) -> None:
        while True:
            batch = members[i].poll_batch(512, timeout=0.3)
            if len(batch) == 0:
                return
            seen[i].extend(int.from_bytes(e.payload, "little") for e in batch)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(members))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(v for s in seen for v in s)
    assert everything == list(range(total)), "each event exactly once across the members"


def test_event_fields(bus: ringbus.Bus) -> None:
    topic = bus.topic("fields", partitions=3)
    sub = topic.subscribe("earliest")
    when = datetime.datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=datetime.timezone.utc)
    offset = topic.publish(b"\x00payload\xff", key="sensor-7", timestamp=when)
    event = sub.poll(timeout=1.0)
    assert event is not None
    assert event.offset == offset
    assert event.key == b"sensor-7"
    assert event.payload == b"\x00payload\xff"
    assert event.timestamp == int(when.replace(microsecond=0).timestamp()) * 10**9 + 123_456_000
    assert event.datetime == when
    assert 0 <= event.partition < 3
    view = event.view()
    assert isinstance(view, memoryview) and view.readonly and bytes(view) == event.payload
    assert view.obj is event.payload, "the view shares the payload's memory"
    assert "sensor-7" in repr(event)


def test_payload_kinds_and_explicit_timestamps(bus: ringbus.Bus) -> None:
    topic = bus.topic("kinds")
    sub = topic.subscribe("earliest")
    topic.publish(b"bytes")
    topic.publish(bytearray(b"bytearray"))
    topic.publish(memoryview(b"xmemoryviewx")[1:-1])
    topic.publish("str é")
    topic.publish(b"", timestamp=42)
    naive = datetime.datetime(2020, 1, 1)  # naive: taken as UTC
    topic.publish(b"naive", timestamp=naive)
    events = [sub.poll(timeout=1.0) for _ in range(6)]
    assert [e.payload for e in events if e is not None] == [b"bytes", b"bytearray", b"memoryview", "str é".encode(), b"", b"naive"]
    assert events[4] is not None and events[4].timestamp == 42 and events[4].key is None
    assert events[5] is not None and events[5].datetime == naive.replace(tzinfo=datetime.timezone.utc)


def test_iteration_ends_when_the_topic_is_closed(bus: ringbus.Bus) -> None:
    topic = bus.topic("finite")
    sub = topic.subscribe("earliest")
    topic.publish_many([b"a", b"b", b"c"])
    topic.close()
    assert [e.payload for e in sub] == [b"a", b"b", b"c"]
    with pytest.raises(ringbus.ClosedError):
        sub.poll(timeout=0)
    with pytest.raises(ringbus.ClosedError):
        topic.publish(b"late")


def test_batch_indexing_and_pylist(bus: ringbus.Bus) -> None:
    topic = bus.topic("batch")
    sub = topic.subscribe("earliest")
    topic.publish_many([b"x", b"y", b"z"], keys=[b"1", None, b"3"])
    batch = sub.poll_batch(10, timeout=1.0)
    assert len(batch) == 3
    assert batch[0].payload == b"x" and batch[-1].payload == b"z" and batch[1].key is None
    with pytest.raises(IndexError):
        batch[3]
    rows = batch.to_pylist()
    assert [r["key"] for r in rows] == [b"1", None, b"3"]
    assert [r["offset"] for r in rows] == [e.offset for e in batch]
    empty = sub.poll_batch(10, timeout=0)
    assert len(empty) == 0 and empty.to_pylist() == []


def test_drop_oldest_reader_is_told_what_it_lost(bus: ringbus.Bus) -> None:
    topic = bus.topic("lossy", capacity=4096, max_payload=64, max_key=16)
    slow = topic.subscribe("earliest", "drop_oldest")
    topic.publish_many([i.to_bytes(8, "little") for i in range(1000)])
    with pytest.raises(ringbus.LaggedError) as lagged:
        slow.poll_batch(10, timeout=0)
    assert lagged.value.lost > 0 and lagged.value.partition == 0
    rest = slow.poll_batch(2000, timeout=0)
    assert lagged.value.lost + len(rest) == 1000
    assert int.from_bytes(rest[-1].payload, "little") == 999


def test_readers_close_and_work_as_context_managers(bus: ringbus.Bus) -> None:
    topic = bus.topic("ctx")
    with topic.subscribe("earliest") as sub:
        topic.publish(b"one")
        assert sub.poll(timeout=1.0) is not None
    with pytest.raises(ringbus.ClosedError):
        sub.poll(timeout=0)
    sub.close()  # idempotent
