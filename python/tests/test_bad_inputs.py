"""Bad inputs raise clear exceptions: TypeError for wrong types, ValueError (including
ringbus.InvalidArgumentError) for wrong values, ringbus errors for the bus's own refusals."""

from __future__ import annotations

import pytest

import ringbus


def test_wrong_payload_and_key_types(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    for bad in (5, 1.5, None, ["x"], object()):
        with pytest.raises(TypeError, match="payload must be bytes"):
            topic.publish(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key must be bytes"):
        topic.publish(b"x", key=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timestamp"):
        topic.publish(b"x", timestamp="yesterday")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamp"):
        topic.publish(b"x", timestamp=-1)
    with pytest.raises(TypeError, match="payloads must be a sequence"):
        topic.publish_many(b"not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"payloads\[1\] must be bytes"):
        topic.publish_many([b"ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="payload 1 is null"):
        topic.publish_many([b"ok", None])
    with pytest.raises(ValueError, match="keys has 1 values but payloads has 2"):
        topic.publish_many([b"a", b"b"], keys=[b"k"])
    assert topic.stats()["published"] == 0, "nothing from a refused call was published"


def test_oversized_payloads_and_keys(bus: ringbus.Bus) -> None:
    topic = bus.topic("small", max_payload=100, max_key=8)
    with pytest.raises(ValueError, match="payload of 101 bytes exceeds the topic's maximum of 100"):
        topic.publish(b"x" * 101)
    with pytest.raises(ringbus.InvalidArgumentError):
        topic.publish(b"x", key=b"k" * 9)
    with pytest.raises(ringbus.InvalidArgumentError):
        topic.publish_many([b"fine", b"x" * 101])
    assert topic.stats()["published"] == 0, "a batch is checked before any of it is published"
    topic.publish(b"x" * 100, key=b"k" * 8)


def test_bad_topic_options(bus: ringbus.Bus) -> None:
    with pytest.raises(ValueError, match="invalid name"):
        bus.topic("no spaces allowed")
    with pytest.raises(ValueError, match="durability must be"):
        bus.topic("t", durability="forever")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown option 'colour'"):
        bus.topic("t", colour="blue")
    with pytest.raises(TypeError, match="unknown option"):
        ringbus.Bus(partitons=2)
    with pytest.raises(TypeError, match="option capacity"):
        bus.topic("t", capacity="big")
    with pytest.raises(TypeError, match="option wait"):
        bus.topic("t", wait=1)
    with pytest.raises(ValueError, match="wait must be park, yield or busy_spin"):
        bus.topic("t", wait="spin")
    with pytest.raises(ValueError, match="dedup_window_ms must be"):
        bus.topic("t", dedup_window_ms=-1)
    with pytest.raises(ringbus.InvalidArgumentError, match="capacity"):
        bus.topic("t", capacity=1000)  # not a power of two
    with pytest.raises(ringbus.InvalidArgumentError, match="partitions"):
        bus.topic("t", partitions=0)
    with pytest.raises(ringbus.NotPersistedError):
        bus.topic("t", durability="sync")  # an in-memory bus
    bus.topic("t", partitions=2)
    with pytest.raises(ringbus.InvalidArgumentError, match="exists with 2 partitions, not 3"):
        bus.topic("t", partitions=3)
    assert bus.topic("t").partitions == 2


def test_bad_reader_arguments(bus: ringbus.Bus) -> None:
    topic = bus.topic("t", partitions=2)
    with pytest.raises(ValueError, match="start must be"):
        topic.subscribe("yesterday")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start must be"):
        topic.subscribe("committed")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="start must be"):
        topic.subscribe(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="policy must be"):
        topic.subscribe("earliest", "sometimes")  # type: ignore[arg-type]
    with pytest.raises(ringbus.InvalidArgumentError):
        topic.subscribe(0)  # an offset needs exactly one partition
    with pytest.raises(ringbus.InvalidArgumentError):
        topic.group("bad name")
    sub = topic.subscribe("earliest", partitions=[1])
    with pytest.raises(ValueError, match="max_events"):
        sub.poll_batch(0)
    with pytest.raises(ValueError, match="timeout"):
        sub.poll(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        sub.poll_batch(10, timeout=float("nan"))


def test_arrow_arrays_of_the_wrong_type() -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is installed by the test command")
    with ringbus.Bus() as bus:
        topic = bus.topic("t")
        with pytest.raises(TypeError, match="binary or string"):
            topic.publish_many(pa.array([1, 2, 3]))
        with pytest.raises(ValueError, match="payload 1 is null"):
            topic.publish_many(pa.array([b"a", None]))


def test_use_after_close(bus: ringbus.Bus) -> None:
    topic = bus.topic("t")
    sub = topic.subscribe()
    bus.close()
    with pytest.raises(ringbus.ClosedError):
        topic.publish(b"x")
    with pytest.raises(ringbus.ClosedError):
        sub.poll(timeout=0)
    with pytest.raises(ringbus.ClosedError):
        topic.publish_many([b"x"])
    bus.close()  # idempotent


def test_exception_hierarchy() -> None:
    for name in ringbus.__all__:
        obj = getattr(ringbus, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, ringbus.RingbusError), name
    assert issubclass(ringbus.InvalidArgumentError, ValueError)
    assert issubclass(ringbus.StorageError, OSError)
