"""ringbus from Python, beside what a Python user would otherwise use, in one process run.

    target/py-venv/bin/python python/benches/bench.py [--quick] [--json]

64-byte payloads, medians of 5 runs, events per second:
- publish: one `Topic.publish` call per event;
- publish_many: lists of 10,000 payloads, one call each;
- poll: one `Subscription.poll(0)` call per event;
- poll_batch -> Arrow: `poll_batch(65536)` and `pyarrow.table(batch)` per batch;
- queue.SimpleQueue between two threads (a pure-Python baseline);
- pyzmq inproc PUB/SUB between two threads, if pyzmq is installed;
the asyncio wait of a reader both ways it can run (a waker writing to a socket the loop
watches, and a helper thread from the loop's executor, the way followers wait): wake-up
latency from a publish on another thread, and throughput of `poll_batch` awaits; and the
cost of one `publish` call against a bare pyo3 call of the same shape (a method of a
frozen class taking the payload and returning a new int: `ringbus._ringbus._BareCall.call`),
and against a bare call with no argument and no result (`ringbus._ringbus._noop`).
Every run checks the count and a checksum of what was read; a mismatch aborts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable

import ringbus
import ringbus._ringbus as ext

PAYLOAD = 64
RUNS = 5


def payload(i: int) -> bytes:
    return i.to_bytes(8, "little") * (PAYLOAD // 8)


def checksum(payloads: list[bytes]) -> int:
    return sum(int.from_bytes(p[:8], "little") for p in payloads)


def expected(n: int) -> int:
    return n * (n - 1) // 2


def measure(run: Callable[[int], float], n: int) -> tuple[float, float, float]:
    """Median, min and max events/s over RUNS runs of `run(n)` (which returns seconds)."""
    rates = sorted(n / run(n) for _ in range(RUNS))
    return statistics.median(rates), rates[0], rates[-1]


def topic(bus: ringbus.Bus, name: str) -> ringbus.Topic:
    return bus.topic(name, capacity=256 << 20, max_payload=PAYLOAD, max_key=0)


def run_publish(n: int) -> float:
    data = [payload(i) for i in range(n)]
    with ringbus.Bus() as bus:
        t = topic(bus, "p")
        sub = t.subscribe("earliest")
        publish = t.publish
        start = time.perf_counter()
        for p in data:
            publish(p)
        elapsed = time.perf_counter() - start
        check(sub, n)
    return elapsed


def run_publish_many(n: int) -> float:
    data = [payload(i) for i in range(n)]
    chunks = [data[i : i + 10_000] for i in range(0, n, 10_000)]
    with ringbus.Bus() as bus:
        t = topic(bus, "pm")
        sub = t.subscribe("earliest")
        start = time.perf_counter()
        for chunk in chunks:
            t.publish_many(chunk)
        elapsed = time.perf_counter() - start
        check(sub, n)
    return elapsed


def check(sub: ringbus.Subscription, n: int) -> None:
    """Reads everything back and checks the count and checksum."""
    got: list[bytes] = []
    while len(got) < n:
        batch = sub.poll_batch(65536, timeout=5.0)
        if len(batch) == 0:
            break
        got.extend(e.payload for e in batch)
    if len(got) != n or checksum(got) != expected(n):
        sys.exit(f"bench: read {len(got)} events, checksum {checksum(got)}; expected {n}, {expected(n)}")


def filled(bus: ringbus.Bus, name: str, n: int) -> ringbus.Subscription:
    t = topic(bus, name)
    sub = t.subscribe("earliest")
    for i in range(0, n, 10_000):
        t.publish_many([payload(j) for j in range(i, min(n, i + 10_000))])
    return sub


def run_poll(n: int) -> float:
    with ringbus.Bus() as bus:
        sub = filled(bus, "poll", n)
        poll = sub.poll
        total = 0
        start = time.perf_counter()
        for _ in range(n):
            event = poll(0)
            assert event is not None
            total += int.from_bytes(event.payload[:8], "little")
        elapsed = time.perf_counter() - start
    if total != expected(n):
        sys.exit(f"bench: poll checksum {total}, expected {expected(n)}")
    return elapsed


def run_poll_arrow(n: int) -> float:
    import pyarrow as pa
    import pyarrow.compute as pc

    with ringbus.Bus() as bus:
        warm = filled(bus, "warm-up", 10)  # pyarrow's first import of a stream sets things up
        pa.table(warm.poll_batch(10, timeout=1.0))
        sub = filled(bus, "arrow", n)
        tables = []
        got = 0
        start = time.perf_counter()
        while got < n:
            table = pa.table(sub.poll_batch(65536, timeout=1.0))
            got += table.num_rows
            tables.append(table)
        elapsed = time.perf_counter() - start
    # Checked outside the timing: the first 8 bytes of each payload, summed.
    total = 0
    for table in tables:
        firsts = pc.binary_slice(table.column("payload"), 0, 8)
        total += sum(int.from_bytes(b, "little") for b in firsts.to_pylist())
    if got != n or total != expected(n):
        sys.exit(f"bench: arrow read {got} events, checksum {total}; expected {n}, {expected(n)}")
    return elapsed


def handoff(n: int, send: Callable[[bytes], object], recv: Callable[[], bytes], system: str) -> float:
    """Seconds for one thread to send n payloads while another receives them; checks the
    receiver's checksum."""
    data = [payload(i) for i in range(n)]
    total = [0]

    def consume() -> None:
        s = 0
        for _ in range(n):
            s += int.from_bytes(recv()[:8], "little")
        total[0] = s

    consumer = threading.Thread(target=consume)
    start = time.perf_counter()
    consumer.start()
    for p in data:
        send(p)
    consumer.join()
    elapsed = time.perf_counter() - start
    if total[0] != expected(n):
        sys.exit(f"bench: {system} checksum {total[0]}, expected {expected(n)}")
    return elapsed


def run_simple_queue(n: int) -> float:
    q: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    return handoff(n, q.put, q.get, "SimpleQueue")


_zmq_runs = iter(range(1_000_000))


def run_zmq(n: int) -> float:
    import zmq

    ctx = zmq.Context.instance()
    address = f"inproc://bench-{next(_zmq_runs)}"
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(address)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(address)
    # PUB/SUB drops messages until the subscription has propagated: ping until one arrives.
    while True:
        pub.send(b"ping")
        if sub.poll(10):
            while sub.poll(0):
                sub.recv()
            break
    try:
        return handoff(n, pub.send, sub.recv, "pyzmq")
    finally:
        pub.close()
        sub.close()


def call_cost(n: int) -> tuple[float, float, float]:
    """Median ns per call: a bare pyo3 call with no argument and no result, one with
    `publish`'s shape, and `publish` of 64 bytes (runs interleaved)."""
    p = payload(1)
    if not hasattr(ext, "_noop"):
        sys.exit("call_cost needs the benchmark helpers: build with `maturin develop --release --features bench` "
                 "(scripts/python-tests.sh does)")
    noop, bare = ext._noop, ext._BareCall().call
    noops, bares, publishes = [], [], []
    with ringbus.Bus() as bus:
        # No reader, so the ring wraps onto warm memory: the steady state of a publisher.
        publish = bus.topic("cost", capacity=1 << 20, max_payload=PAYLOAD, max_key=0).publish
        for _ in range(RUNS):
            start = time.perf_counter()
            for _ in range(n):
                noop()
            noops.append((time.perf_counter() - start) / n * 1e9)
            start = time.perf_counter()
            for _ in range(n):
                bare(p)
            bares.append((time.perf_counter() - start) / n * 1e9)
            start = time.perf_counter()
            for _ in range(n):
                publish(p)
            publishes.append((time.perf_counter() - start) / n * 1e9)
    return statistics.median(noops), statistics.median(bares), statistics.median(publishes)


def async_wakeup(rounds: int, waker: bool) -> tuple[float, float]:
    """p50 and p99 µs from a publish on another thread to the return of the coroutine
    awaiting it, the reader waiting by waker (True) or on an executor thread."""
    from ringbus import _aio

    latencies: list[float] = []
    with ringbus.Bus() as bus:
        t = bus.topic("wake")
        sub = t.subscribe("latest")
        go = threading.Event()

        def produce() -> None:
            for _ in range(rounds):
                go.wait()
                go.clear()
                time.sleep(0.0005)
                t.publish(time.perf_counter_ns().to_bytes(8, "little"))

        async def consume() -> None:
            for _ in range(rounds):
                go.set()
                # As poll_async does: the reader's waiter, claimed for the call.
                waiter = sub._waiter() if waker else None
                while (e := sub.poll(0)) is None:
                    await _aio._wait(sub, waiter, None)
                if waiter is not None:
                    waiter.release()
                latencies.append((time.perf_counter_ns() - int.from_bytes(e.payload, "little")) / 1e3)

        producer = threading.Thread(target=produce)
        producer.start()
        asyncio.run(consume())
        producer.join()
    assert len(latencies) == rounds, "every wake-up was seen"
    latencies.sort()
    return latencies[rounds // 2], latencies[int(rounds * 0.99)]


def async_batches(n: int, waker: bool) -> float:
    """Seconds for a coroutine to read n events by `poll_batch` awaits (waiting by waker or
    on an executor thread) while a thread publishes them in lists of 1000."""
    from ringbus import _aio

    data = [payload(i) for i in range(n)]
    with ringbus.Bus() as bus:
        t = topic(bus, "abatch")
        sub = t.subscribe("latest")

        def produce() -> None:
            for i in range(0, n, 1000):
                t.publish_many(data[i : i + 1000])

        async def consume() -> int:
            got, total = 0, 0
            while got < n:
                batch = sub.poll_batch(65536, 0)
                if len(batch) == 0:
                    # As poll_batch_async does: the reader's waiter, claimed for the call.
                    waiter = sub._waiter() if waker else None
                    await _aio._wait(sub, waiter, None)
                    if waiter is not None:
                        waiter.release()
                    continue
                got += len(batch)
                total += checksum([e.payload for e in batch])
            return total

        start = time.perf_counter()
        producer = threading.Thread(target=produce)
        producer.start()
        total = asyncio.run(consume())
        producer.join()
        elapsed = time.perf_counter() - start
    assert total == expected(n), "asyncio batches: wrong checksum"
    return elapsed


def asyncio_rows(n: int, rounds: int) -> list[tuple[str, float, float, float, float]]:
    """(path, p50 µs, p99 µs, M events/s median) for both waits, runs interleaved."""
    out = []
    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for _ in range(RUNS):
        for waker in (True, False):
            p50, p99 = async_wakeup(rounds, waker)
            results[waker].append((p50, p99, n / async_batches(n, waker)))
    for waker, runs in results.items():
        p50 = statistics.median(r[0] for r in runs)
        p99 = statistics.median(r[1] for r in runs)
        rates = sorted(r[2] for r in runs)
        out.append(("waker (socket)" if waker else "executor thread", p50, p99, rates[len(rates) // 2], rates[0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events per run (a smoke run)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    rows: list[tuple[str, str, float, float, float]] = []
    tests: list[tuple[str, str, Callable[[int], float]]] = [
        ("publish", "ringbus", run_publish),
        ("publish_many", "ringbus", run_publish_many),
        ("poll", "ringbus", run_poll),
        ("poll_batch -> Arrow", "ringbus", run_poll_arrow),
        ("put/get, 2 threads", "queue.SimpleQueue", run_simple_queue),
    ]
    try:
        import zmq  # noqa: F401

        tests.append(("inproc PUB/SUB, 2 threads", "pyzmq", run_zmq))
    except ImportError:
        print("pyzmq is not installed: its row is left out (pip install pyzmq)", file=sys.stderr)
    for name, system, run in tests:
        median, low, high = measure(run, n)
        rows.append((name, system, median, low, high))
        if args.json:
            print(json.dumps({"test": name, "system": system, "events_per_s": median, "min": low, "max": high}))
    noop_ns, bare_ns, publish_ns = call_cost(n // 4)
    waits = asyncio_rows(n, 100 if args.quick else 500)
    if args.json:
        print(json.dumps({"test": "call_cost", "noop_ns": noop_ns, "bare_ns": bare_ns, "publish_ns": publish_ns}))
        for path, p50, p99, rate, _ in waits:
            print(json.dumps({"test": "asyncio wait", "path": path, "p50_us": p50, "p99_us": p99, "events_per_s": rate}))
        return
    print(f"ringbus {ringbus.__version__} from Python {sys.version.split()[0]}: {PAYLOAD}-byte payloads, "
          f"{n} events per run, medians of {RUNS} (min-max), million events/s")
    for name, system, median, low, high in rows:
        print(f"  {system:<18} {name:<28} {median / 1e6:8.2f}  ({low / 1e6:.2f}-{high / 1e6:.2f})")
    baseline = next(r[2] for r in rows if r[1] == "queue.SimpleQueue")
    by_name = {r[0]: r[2] for r in rows if r[1] == "ringbus"}
    print("\ntargets (from this run):")
    print(f"  publish_many: {by_name['publish_many'] / 1e6:.2f} M/s (target >= 5), "
          f"{by_name['publish_many'] / baseline:.1f}x SimpleQueue")
    print(f"  poll_batch -> Arrow: {by_name['poll_batch -> Arrow'] / 1e6:.2f} M/s (target >= 5)")
    print(f"  publish: {publish_ns:.0f} ns a call against {bare_ns:.0f} ns for a bare pyo3 call of its shape "
          f"(bytes in, int out): {publish_ns / bare_ns:.2f}x (target <= 2)")
    print(f"           against {noop_ns:.0f} ns for a bare call with no argument and no result: "
          f"{publish_ns / noop_ns:.2f}x")
    print("\nasyncio waits (medians of runs interleaved; wake-up from a publish on another thread, and")
    print("poll_batch awaits while a thread publishes lists of 1000):")
    for path, p50, p99, rate, low in waits:
        print(f"  {path:<18} wake-up p50 {p50:7.1f} us, p99 {p99:8.1f} us; batches {rate / 1e6:6.2f} M/s (min {low / 1e6:.2f})")


if __name__ == "__main__":
    main()
