"""ringbus: an in-process event bus. Publish events to topics; read them with fanout
subscriptions (each sees every event) or work-queue groups (each event goes to one member);
persist topics in a data directory and replay them from an offset or a time.

    import ringbus

    with ringbus.Bus() as bus:
        readings = bus.topic("readings", partitions=4)
        sub = readings.subscribe("earliest")
        readings.publish_many([b"21.5", b"21.7"], keys=[b"sensor-1", b"sensor-2"])
        batch = sub.poll_batch(1000, timeout=1.0)   # an EventBatch: pyarrow.table(batch)
"""

from ._errors import (
    ClosedError,
    CorruptLogError,
    EvictedError,
    ExistsError,
    FlushTimeoutError,
    FullError,
    InvalidArgumentError,
    LaggedError,
    LockedError,
    NotPersistedError,
    OffsetError,
    OffsetPendingError,
    PoisonedError,
    RingbusError,
    StorageError,
)
from ._ringbus import (
    Bus,
    Event,
    EventBatch,
    Follower,
    FollowerMember,
    FollowerSubscription,
    Member,
    Reader,
    Subscription,
    Ticket,
    Topic,
    __version__,
)

__all__ = [
    "Bus",
    "ClosedError",
    "CorruptLogError",
    "Event",
    "EventBatch",
    "EvictedError",
    "ExistsError",
    "FlushTimeoutError",
    "Follower",
    "FollowerMember",
    "FollowerSubscription",
    "FullError",
    "InvalidArgumentError",
    "LaggedError",
    "LockedError",
    "Member",
    "NotPersistedError",
    "OffsetError",
    "OffsetPendingError",
    "PoisonedError",
    "Reader",
    "RingbusError",
    "StorageError",
    "Subscription",
    "Ticket",
    "Topic",
    "__version__",
]
