"""Many Python threads at once: publishing to one topic, and reading while others publish."""

from __future__ import annotations

import threading
from collections.abc import Callable

import ringbus


def run_at_once(read: Callable[[], None], publish: Callable[[int], None], threads_n: int) -> None:
    """Runs `read` in a thread beside `threads_n` threads running `publish(t)`; returns once
    all are done (the reader within 60 s of the last publisher)."""
    reader = threading.Thread(target=read)
    reader.start()
    publishers = [threading.Thread(target=publish, args=(t,)) for t in range(threads_n)]
    for p in publishers:
        p.start()
    for p in publishers:
        p.join()
    reader.join(timeout=60)
    assert not reader.is_alive()


def test_many_threads_publish_at_once(bus: ringbus.Bus) -> None:
    # A small ring, so publishers also wait for the reader (GIL released while they wait).
    topic = bus.topic("t", partitions=2, capacity=1 << 16, max_payload=256, max_key=16)
    sub = topic.subscribe("earliest")
    threads_n, per_thread = 8, 5000
    got: list[bytes] = []

    def read() -> None:
        while len(got) < threads_n * per_thread:
            got.extend(e.payload for e in sub.poll_batch(1024, timeout=5.0))

    def publish(t: int) -> None:
        for i in range(per_thread):
            if i % 2:
                topic.publish(b"%d:%d" % (t, i), key=b"%d" % t)
            else:
                topic.publish_many([b"%d:%d" % (t, i)], keys=[b"%d" % t])

    run_at_once(read, publish, threads_n)
    assert len(got) == threads_n * per_thread
    for t in range(threads_n):
        mine = [int(x.split(b":")[1]) for x in got if x.startswith(b"%d:" % t)]
        assert mine == list(range(per_thread)), "one key: one partition, publish order kept"


def test_threads_publishing_bare_bytes_get_the_offsets_readers_see(bus: ringbus.Bus) -> None:
    # publish(bytes) alone takes the topic's spare publisher without a lock when it is free;
    # threads that find it taken, or the ring full, take the general path. Either way the
    # returned offset is where the reader finds the event.
    topic = bus.topic("t", capacity=1 << 16, max_payload=256)
    sub = topic.subscribe("earliest")
    threads_n, per_thread = 6, 5000
    returned: dict[bytes, int] = {}
    seen: dict[bytes, int] = {}

    def read() -> None:
        while len(seen) < threads_n * per_thread:
            seen.update((e.payload, e.offset) for e in sub.poll_batch(1024, timeout=5.0))

    def publish(t: int) -> None:
        for i in range(per_thread):
            payload = b"%d:%d" % (t, i)
            returned[payload] = topic.publish(payload)

    run_at_once(read, publish, threads_n)
    assert seen == returned and len(seen) == threads_n * per_thread
    for t in range(threads_n):
        mine = sorted((offset, payload) for payload, offset in seen.items() if payload.startswith(b"%d:" % t))
        assert [int(p.split(b":")[1]) for _, p in mine] == list(range(per_thread)), "one partition: order kept"


def test_a_reader_in_use_by_another_thread_is_refused(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe()
    started = threading.Event()

    def hold() -> None:
        started.set()
        sub.poll_batch(10, timeout=1.5)  # holds the reader while it waits

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait()
    refused = 0
    for _ in range(10):
        try:
            sub.poll_batch(10, timeout=0)
        except RuntimeError as e:
            assert "another thread" in str(e)
            refused += 1
        threading.Event().wait(0.05)
    holder.join()
    assert refused > 0
