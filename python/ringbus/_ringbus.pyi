"""Type stubs for the extension module: the classes ringbus re-exports, with what each
guarantees. Checked against the built module by mypy's stubtest in the test command."""

import datetime
import os
import pathlib
from collections.abc import Generator, Iterable, Iterator
from typing import Any, Coroutine, Literal, Protocol, Self, final

from typing_extensions import disjoint_base

__all__ = ["Bus", "Topic", "Reader", "Subscription", "Member", "Event", "EventBatch", "__version__"]


__version__: str

class _ArrowArrayExportable(Protocol):
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...

_Bytes = bytes | bytearray | memoryview | str
_Start = Literal["earliest", "latest"] | int | datetime.datetime
_GroupStart = Literal["earliest", "latest", "committed"] | int | datetime.datetime
_Durability = Literal["memory", "async", "sync"]

@final
class Bus:
    """An event bus: in memory (``path=None``), or persisted in the data directory ``path``
    (created if missing; its topics, offsets and committed groups are restored; one bus per
    directory at a time, else LockedError). ``options`` are topic defaults: the keyword
    options of ``topic``. A context manager: leaving it closes the bus."""

    def __new__(cls, path: str | os.PathLike[str] | None = None, **options: Any) -> Self: ...
    def topic(
        self, name: str, partitions: int | None = None, durability: _Durability | None = None, **options: Any
    ) -> Topic:
        """The topic ``name``: opened if it exists (InvalidArgumentError if ``partitions`` or
        ``durability`` differ from it), else created. Options (None: the bus's default, then
        the core's) are the keys of ringbus's configuration table, the names and units of
        topic.conf and the C API: capacity (ring bytes per partition, a power of two),
        max_payload, max_key, segment_bytes, retention_bytes (bytes), async_max_delay_ms,
        retention_ms, dedup_window_ms (milliseconds, int or float), producers ("multi",
        "single"), timestamps ("coarse", "precise"), wait ("park", "yield", "busy_spin").
        retention_age, async_max_delay and dedup_window (seconds) still work and warn
        (DeprecationWarning). Durable topics (async, sync) need a bus with a path."""
    def topics(self) -> list[str]:
        """Names of the bus's topics, sorted."""
    def metrics(self) -> str:
        """Every bus, topic, partition and reader counter in the OpenMetrics text format
        (what Prometheus scrapes; the README lists the names and labels). Empty once
        closed."""
    @property
    def path(self) -> pathlib.Path | None:
        """The data directory, or None in memory."""
    def close(self) -> None:
        """Closes every topic: publishing raises ClosedError, readers drain what was
        published, persisted topics are written and fsynced. Idempotent."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class Topic:
    """A topic. Any thread may publish, subscribe and join groups at once."""

    @property
    def name(self) -> str: ...
    @property
    def partitions(self) -> int: ...
    @property
    def durability(self) -> _Durability: ...
    def metrics(self) -> str:
        """The topic's counters in the OpenMetrics text format (``Bus.metrics`` for one
        topic)."""
    def publish(
        self,
        payload: _Bytes,
        key: _Bytes | None = None,
        timestamp: int | datetime.datetime | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Publishes one event (str is UTF-8 encoded); returns its offset in its partition.
        The key picks the partition; timestamp is ns since the Unix epoch or a datetime
        (naive: UTC), the bus's clock by default. Waits while the ring is full (FullError
        after ``timeout`` s); on a sync topic returns once the event is durable
        (FlushTimeoutError after ``timeout`` s)."""
    def publish_many(
        self,
        payloads: Iterable[_Bytes | None] | _ArrowArrayExportable,
        keys: Iterable[_Bytes | None] | _ArrowArrayExportable | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Publishes every payload in order, in one call (a list of bytes-likes, or an Arrow
        binary or string array); ``keys`` (same length, None entries: no key). Returns how
        many. All are checked before any is published. With ``timeout``, FullError says the
        ring stayed full; how many were published then shows in ``stats()``."""
    def publish_ticket(
        self,
        payload: _Bytes,
        key: _Bytes | None = None,
        timestamp: int | datetime.datetime | None = None,
        *,
        timeout: float | None = None,
    ) -> Ticket:
        """``publish`` without waiting for the fsync: returns once the event is appended,
        with a Ticket that completes once it is durable (at once on memory and async
        topics). Keep many tickets in flight: one fsync covers all that wait. Waits while
        the ring is full (FullError after ``timeout`` s, nothing published)."""
    def publish_many_ticket(
        self,
        payloads: Iterable[_Bytes | None] | _ArrowArrayExportable,
        keys: Iterable[_Bytes | None] | _ArrowArrayExportable | None = None,
        *,
        timeout: float | None = None,
    ) -> Ticket:
        """``publish_many`` without waiting for the fsync: one Ticket for all of them."""
    def subscribe(
        self,
        start: _Start | None = None,
        policy: Literal["block", "drop_oldest", "evict"] = "block",
        *,
        evict_after: float = 1.0,
        partitions: list[int] | None = None,
    ) -> Subscription:
        """A fanout subscription from ``start`` (default "earliest"; an offset needs a single
        partition; a datetime: the first event at or after it). Policies: "block" holds
        producers back (nothing lost); "drop_oldest" may be lapped (LaggedError says how many
        were lost); "evict" blocks until it has held a full ring back ``evict_after`` s,
        then is removed (EvictedError)."""
    def group(self, name: str, start: _GroupStart | None = None) -> Member:
        """Joins work-queue group ``name`` as a new member: each event goes to one member.
        ``start`` applies when the group is new: default "committed" on persisted topics
        (where the group last committed, else the earliest event), "earliest" in memory."""
    def flush(self, timeout: float | None = None) -> bool:
        """Waits until everything published so far is durable; False if ``timeout`` s passed
        first. Memory topics: True at once."""
    def stats(self) -> dict[str, Any]:
        """Counters: name, published, full_waits, duplicates, io_backend, partitions (each:
        partition, published, next_offset, earliest_offset, durable_offset, segments,
        fsyncs) and
        readers (each: group, delivered, dropped, lag)."""
    def close(self) -> None:
        """Closes the topic: publishing raises ClosedError; readers drain what was published."""

@final
class Ticket:
    """A durability ticket (``Topic.publish_ticket``): complete once the fsync covering its
    events has completed. Awaitable (``await ticket``, no helper thread). Dropping it loses
    nothing."""

    def wait(self, timeout: float | None = None) -> bool:
        """Waits up to ``timeout`` s (None: no limit) until durable: True, or False if the
        time passed first. PoisonedError if the log failed before covering it."""
    @property
    def durable(self) -> bool:
        """Whether it is durable now; PoisonedError if it never will be."""
    @property
    def offset(self) -> int | None:
        """The event's offset (a ticket of one event), else None."""
    @property
    def partition(self) -> int | None:
        """The event's partition (a ticket of one event), else None."""
    def __await__(self) -> Generator[Any, None, None]: ...
    def _waiter(self) -> _Waiter: ...

@final
class _Waiter:
    """A core future asyncio can await (see ringbus/_aio.py)."""

    @property
    def fd(self) -> int: ...
    def poll(self) -> bool: ...
    def cancel(self) -> None: ...
    def release(self) -> None: ...

@disjoint_base
class Reader:
    """What subscriptions and group members share. One thread at a time: a second thread
    using the reader meanwhile gets RuntimeError. Iterable (``for event in reader``, until
    the topic is closed and drained) and async-iterable."""

    @property
    def topic(self) -> str: ...
    def poll(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to ``timeout`` s (None: until one comes); None when the
        timeout passed. The wait releases the GIL and ends on Ctrl-C within 100 ms.
        ClosedError once the topic is closed and drained."""
    def poll_batch(self, max_events: int = 4096, timeout: float | None = None) -> EventBatch:
        """Up to ``max_events`` events, waiting up to ``timeout`` s (None: no limit) for the
        first; empty when the timeout passed. The GIL is released while waiting and while
        the batch is built."""
    def _wait_ready(self, timeout: float) -> bool: ...
    def _waiter(self) -> _Waiter | None: ...
    def poll_async(self, timeout: float | None = None) -> Coroutine[Any, Any, Event | None]:
        """``poll`` for asyncio: the wait runs on the loop's executor and takes no event, so
        cancelling it loses nothing."""
    def poll_batch_async(
        self, max_events: int = 4096, timeout: float | None = None
    ) -> Coroutine[Any, Any, EventBatch]:
        """``poll_batch`` for asyncio, as ``poll_async``."""
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> Coroutine[Any, Any, Event]: ...
    def close(self) -> None:
        """Leaves the topic (a member's unprocessed events go to the other members); later
        polls raise ClosedError. Idempotent."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class Subscription(Reader):
    """A fanout subscription: sees every event of its partitions, in order per partition."""

@final
class Member(Reader):
    """A member of a work-queue group: each event goes to one member of the group."""

    @property
    def group(self) -> str: ...
    def commit(self) -> list[int]:
        """Commits for the group: every event this member was handed counts as processed; the
        group's offsets are written and fsynced and returned, one per partition. A group
        joined again with start "committed" (also after a restart) resumes after them.
        NotPersistedError in memory; ClosedError once the bus is closed (the directory may be
        another bus's by then), though a closed topic still commits."""

@final
class Follower:
    """A read-only view of a data directory that another process (a ``Bus(path)``) may have
    open: it takes no lock and never holds the owner back. The directory need not exist yet."""

    def __new__(cls, path: str | os.PathLike[str]) -> Follower: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def owner_pid(self) -> int | None:
        """The process id of the bus that has the directory open, or None."""
    def topics(self) -> list[str]:
        """The persisted topics in the directory now, sorted."""
    def partitions(self, topic: str) -> list[dict[str, Any]]:
        """Per partition: earliest, next and durable offsets, segment count, durability."""
    def subscribe(
        self,
        topic: str,
        start: str | int | datetime.datetime | None = None,
        *,
        partitions: list[int] | None = None,
        durable_only: bool = False,
        name: str | None = None,
    ) -> FollowerSubscription:
        """Follows ``topic`` (waited for if it does not exist yet) from ``start`` ("earliest"
        by default, "latest", an offset, a datetime, or "committed" with a ``name``).
        ``durable_only``: only events the owner has fsynced. NotPersistedError for a topic
        the owner keeps in memory only; LockedError when another process uses ``name``."""
    def group(self, topic: str, name: str, start: str | None = None) -> FollowerMember:
        """Joins follower group ``name``: its members, in any processes, share the topic's
        partitions; a member that dies has its partitions taken over from their last commit
        (the events it handed out after that commit come again)."""

@final
class FollowerSubscription(Reader):
    """A follower's subscription: every event of its partitions, read from the owner's files.
    OffsetError when retention deleted events before they were read (it goes on from the
    earliest kept)."""

    def commit(self) -> None:
        """Stores a named follower's positions durably; start "committed" resumes after them."""

@final
class FollowerMember(Reader):
    """A member of a follower group."""

    @property
    def group(self) -> str: ...
    def commit(self) -> None:
        """Commits the positions of the partitions this member owns."""

@final
class Event:
    """One event; its key and payload were copied out of the bus once."""

    @property
    def offset(self) -> int:
        """Offset in its partition (the byte position in the partition's log)."""
    @property
    def partition(self) -> int: ...
    @property
    def timestamp(self) -> int:
        """ns since the Unix epoch."""
    @property
    def datetime(self) -> datetime.datetime:
        """The timestamp as an aware UTC datetime (microseconds)."""
    @property
    def key(self) -> bytes | None: ...
    @property
    def payload(self) -> bytes: ...
    def view(self) -> memoryview:
        """The payload as a memoryview, without a copy."""

@final
class EventBatch:
    """Events polled together, held in Arrow layout (columns offset: uint64, partition:
    uint32, timestamp: timestamp[ns, UTC], key: large_binary or null, payload:
    large_binary), copied out of the bus once. ``pyarrow.table(batch)``,
    ``pyarrow.record_batch(batch)`` and ``polars.DataFrame(batch)`` take the columns without
    copying them (the Arrow PyCapsule interface). Indexing gives Events."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Event: ...
    def __iter__(self) -> Iterator[Event]: ...
    def to_pylist(self) -> list[dict[str, Any]]:
        """The events as dicts: offset, partition, timestamp (ns), key, payload."""
    def to_pandas(self) -> Any:
        """A pandas DataFrame (through pyarrow when installed; ImportError without pandas)."""
    def to_polars(self) -> Any:
        """A polars DataFrame (ImportError without polars)."""
    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
