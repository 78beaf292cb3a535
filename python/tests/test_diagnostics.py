"""ringbus's diagnostics reach Python's logging (loggers under "ringbus"); each error of the
core has its own exception class."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import ringbus


def test_a_blocked_publisher_is_logged_naming_the_reader(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ringbus")
    with ringbus.Bus() as bus:
        topic = bus.topic("sensors", capacity=4096, max_payload=64, max_key=0)
        sub = topic.subscribe("earliest")  # a Block reader this thread never polls
        with pytest.raises(ringbus.FullError):
            while True:
                topic.publish(b"x" * 64, timeout=1.5)
        records = [r for r in caplog.records if r.name.startswith("ringbus") and r.levelno == logging.WARNING]
        assert len(records) == 1, [r.getMessage() for r in records]
        message = records[0].getMessage()
        assert '"sensors"' in message and "partition 0" in message, message
        assert "subscription #1 (Block)" in message, message
        assert sub.poll(timeout=1) is not None  # the reader it named holds the events


def test_a_torn_tail_cut_on_reopen_is_logged(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ringbus")
    with ringbus.Bus(data_dir) as bus:
        bus.topic("t", durability="sync", capacity=65536, max_payload=1024).publish(b"kept")
    segment = data_dir / "t" / "0" / "00000000000000000000.seg"
    data = bytearray(segment.read_bytes())
    data[64 + 32 : 64 + 32 + 5] = b"junk!"  # after the one 32-byte frame
    segment.write_bytes(bytes(data))
    with ringbus.Bus(data_dir) as bus:
        events = list(bus.topic("t").subscribe("earliest").poll_batch(10, timeout=1))
        assert [e.payload for e in events] == [b"kept"]
    torn = [r for r in caplog.records if "torn tail" in r.getMessage()]
    assert len(torn) == 1 and torn[0].levelno == logging.WARNING and torn[0].name.startswith("ringbus.")
    assert "5 bytes" in torn[0].getMessage()
    backend = [r for r in caplog.records if "persisters write with" in r.getMessage() or "not io_uring" in r.getMessage()]
    assert backend, "the bus says which I/O backend it chose"


def test_each_core_error_has_its_class() -> None:
    assert issubclass(ringbus.FullError, ringbus.RingbusError)
    assert issubclass(ringbus.FlushTimeoutError, ringbus.RingbusError)
    assert issubclass(ringbus.FlushTimeoutError, TimeoutError)
    assert issubclass(ringbus.OffsetPendingError, ringbus.OffsetError)
    assert not issubclass(ringbus.FullError, TimeoutError)
