"""ringbus's exceptions: one hierarchy under RingbusError, raised from one mapping of the
core's errors (python/src/lib.rs, ``err``)."""


class RingbusError(Exception):
    """Base of every error ringbus raises about the bus itself."""


class InvalidArgumentError(RingbusError, ValueError):
    """A bad name, option value, partition, or a payload or key above the topic's maximum."""


class ExistsError(RingbusError):
    """A topic or publisher that may exist only once already does."""


class FullError(RingbusError):
    """The partition's ring stayed full for the whole timeout: a ``block`` reader, a group or
    the persister has not caught up. Nothing was published."""


class FlushTimeoutError(RingbusError, TimeoutError):
    """Events did not become durable before the timeout: a ``sync`` topic's publish wrote the
    event but did not see its fsync complete in time (it may still become durable)."""


class ClosedError(RingbusError):
    """The bus, topic or reader is closed (for readers: closed and drained)."""


class OffsetError(RingbusError, ValueError):
    """A start offset that is no longer kept, past the end, or not where an event starts."""


class OffsetPendingError(OffsetError):
    """The start offset lies behind an event whose producer has claimed its space but not
    committed it yet; subscribing again in a moment succeeds."""


class LaggedError(RingbusError):
    """A ``drop_oldest`` reader was overtaken and lost ``lost`` events on ``partition``; the
    next poll continues with the oldest event held."""

    partition: int
    lost: int


class EvictedError(RingbusError):
    """An ``evict`` reader held producers back too long and was removed."""


class LockedError(RingbusError):
    """Another bus, in this or another process, has the data directory open."""


class StorageError(RingbusError, OSError):
    """A file operation on the data directory failed."""


class CorruptLogError(RingbusError):
    """A segment file is damaged where its data was known durable; ``segment`` and
    ``position`` say where."""

    segment: str
    position: int


class PoisonedError(RingbusError):
    """A partition stopped accepting events after a failed write or fsync."""


class NotPersistedError(RingbusError):
    """The operation needs a persisted topic (a bus with a path, durability async or sync)."""
