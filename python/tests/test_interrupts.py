"""Ctrl-C (SIGINT) ends a blocking poll, and a publish waiting for room, promptly; asyncio
consumption; a cancelled await loses no event."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time

import ringbus

BLOCKED = """
import sys, time, ringbus
bus = ringbus.Bus()
topic = bus.topic("t", capacity=4096, max_payload=64, max_key=0)
sub = topic.subscribe("earliest")
mode = sys.argv[1]
if mode == "publish":
    while True:  # fill the ring: the reader never reads
        try:
            topic.publish(b"x" * 64, timeout=0)
        except ringbus.FullError:
            break
print("waiting", flush=True)
try:
    if mode == "poll":
        sub.poll()                      # no timeout: waits until an event or Ctrl-C
    else:
        topic.publish(b"y" * 64)        # waits for room until Ctrl-C
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), flush=True)
    sys.exit(0)
print("returned", flush=True)
sys.exit(1)
"""


def interrupt(mode: str) -> float:
    """Seconds from SIGINT to the child's KeyboardInterrupt."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(BLOCKED), mode], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "waiting"
    time.sleep(0.3)  # well inside the wait
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    line = child.stdout.readline().split()
    assert child.wait(timeout=10) == 0, line
    assert line[0] == "interrupted"
    return float(line[1]) - sent


def test_ctrl_c_ends_a_blocking_poll() -> None:
    latency = interrupt("poll")
    print(f"SIGINT to KeyboardInterrupt in a blocking poll: {latency * 1000:.0f} ms")
    # Waits are cut into 100 ms slices; allow for a loaded machine.
    assert latency < 1.0


def test_ctrl_c_ends_a_publish_waiting_for_room() -> None:
    latency = interrupt("publish")
    print(f"SIGINT to KeyboardInterrupt in a full publish: {latency * 1000:.0f} ms")
    assert latency < 1.0


def test_async_iteration_and_batches(bus: ringbus.Bus) -> None:
    topic = bus.topic("t", partitions=2)
    sub = topic.subscribe("earliest")
    batches = topic.subscribe("earliest")

    async def main() -> tuple[list[bytes], int]:
        async def produce() -> None:
            for i in range(200):
                topic.publish(b"%d" % i, key=b"%d" % (i % 2))
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            topic.close()

        producer = asyncio.create_task(produce())
        seen = [event.payload async for event in sub]
        await producer
        counted = 0
        try:
            while True:
                counted += len(await batches.poll_batch_async(64, timeout=0.5))
        except ringbus.ClosedError:
            pass  # closed and drained
        return seen, counted

    seen, counted = asyncio.run(main())
    assert sorted(int(x) for x in seen) == list(range(200))
    assert counted == 200


def test_a_cancelled_await_loses_nothing(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe("earliest")

    async def main() -> ringbus.Event | None:
        waiting = asyncio.create_task(sub.poll_async())
        await asyncio.sleep(0.15)
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            pass
        topic.publish(b"kept")
        return await sub.poll_async(timeout=2.0)

    event = asyncio.run(main())
    assert event is not None and event.payload == b"kept"
    assert asyncio.run(sub.poll_async(timeout=0.05)) is None
