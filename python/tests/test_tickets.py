"""Durability tickets from Python: publish now, wait (or await) for the fsync later; the
asyncio waits of readers and tickets run without a helper thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import ringbus


def test_tickets_complete_after_the_fsync_and_share_it(data_dir: Path) -> None:
    with ringbus.Bus(data_dir) as bus:
        topic = bus.topic("ingest", durability="sync")
        tickets = [topic.publish_ticket(i.to_bytes(8, "little"), key=b"sensor-1") for i in range(2000)]
        offsets = [t.offset for t in tickets]
        assert offsets == sorted(offsets) and len(set(offsets)) == 2000
        assert all(t.partition == 0 for t in tickets)
        assert all(t.wait(timeout=10.0) for t in tickets)
        assert all(t.durable for t in tickets)
        stats = topic.stats()
        assert stats["partitions"][0]["durable_offset"] > offsets[-1]
        assert stats["partitions"][0]["fsyncs"] < 2000, "one fsync covered several tickets"
        many = topic.publish_many_ticket([b"a", b"b", b"c"], keys=[b"x", b"y", b"z"])
        assert many.offset is None and many.wait(10.0) and many.durable
        assert "Ticket(" in repr(tickets[0])
    with ringbus.Bus(data_dir) as bus:
        events = bus.topic("ingest").subscribe("earliest").poll_batch(4096, timeout=1.0)
        assert len(events) == 2003


def test_memory_and_async_tickets_are_complete_at_once(bus: ringbus.Bus, data_dir: Path) -> None:
    t = bus.topic("m").publish_ticket(b"x")
    assert t.durable and t.wait(0) and t.offset == 0 and t.partition == 0
    with ringbus.Bus(data_dir) as persisted:
        assert persisted.topic("a", durability="async").publish_ticket(b"x").durable


def test_await_tickets_and_a_failing_argument(data_dir: Path) -> None:
    with ringbus.Bus(data_dir) as bus:
        topic = bus.topic("ingest", durability="sync", partitions=3)

        async def main() -> int:
            tickets = [topic.publish_ticket(b"r", key=str(k).encode()) for k in range(300)]
            await asyncio.gather(*tickets)
            batch = topic.publish_many_ticket([b"p"] * 5000, keys=[str(k).encode() for k in range(5000)])
            await batch
            return sum(p["durable_offset"] > 0 for p in topic.stats()["partitions"])

        assert asyncio.run(main()) == 3
        with pytest.raises(TypeError):
            topic.publish_ticket(12345)  # type: ignore[arg-type]


def test_asyncio_reads_wake_without_a_helper_thread(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe("latest")

    async def main() -> list[bytes]:
        got = []
        before = threading.active_count()
        waiting = asyncio.create_task(sub.poll_async())
        await asyncio.sleep(0.05)
        assert threading.active_count() == before, "no thread waits for the reader"
        threading.Thread(target=topic.publish, args=(b"one",)).start()
        event = await asyncio.wait_for(waiting, 5.0)
        assert event is not None
        got.append(event.payload)
        # A cancelled wait loses nothing: the next event goes to the next await.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sub.poll_batch_async(10), 0.05)
        topic.publish(b"two")
        got.extend(e.payload for e in await sub.poll_batch_async(10, timeout=5.0))
        return got

    assert asyncio.run(main()) == [b"one", b"two"]


def test_two_awaits_of_one_reader_each_wait_and_share_its_events(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe("latest")

    async def main() -> tuple[ringbus.Event | None, int]:
        one = asyncio.create_task(sub.poll_async(timeout=0.5))
        many = asyncio.create_task(sub.poll_batch_async(10, timeout=0.5))
        await asyncio.sleep(0.05)
        threading.Thread(target=topic.publish, args=(b"only",)).start()
        event, batch = await asyncio.gather(one, many)
        return event, len(batch)

    event, n = asyncio.run(main())
    assert (event is not None) + n == 1, "the one event went to exactly one of the two awaits"
