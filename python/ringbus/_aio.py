"""asyncio for readers and tickets.

A bus reader's wait, and a ticket's, is a core future whose waker writes to a socket the
event loop watches (``loop.add_reader``): no thread waits, and the loop polls the future
again when it is worth it. A follower's reader waits on the loop's default executor instead
(its core reader watches the directory with inotify). Either way no event is taken off the
loop's thread, so a cancelled await loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ._errors import ClosedError

if TYPE_CHECKING:
    from ._ringbus import Event, EventBatch, Reader, Ticket, _Waiter

T = TypeVar("T")

# The longest a worker thread waits before the coroutine looks again (followers).
_SLICE = 0.1


async def _until(waiter: _Waiter, deadline: float | None) -> bool:
    """Awaits the waiter's future; False once the deadline passed first."""
    if waiter.poll():
        return True
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable() -> None:
        if done.done():
            return
        try:
            if waiter.poll():
                done.set_result(None)
        except Exception as e:  # the future's error (a poisoned log) reaches the awaiter
            done.set_exception(e)

    loop.add_reader(waiter.fd, readable)
    try:
        if deadline is None:
            await done
        else:
            await asyncio.wait_for(done, max(0.0, deadline - loop.time()))
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(waiter.fd)
        if not done.done() or done.cancelled():
            waiter.cancel()


async def _wait(reader: Reader, waiter: _Waiter | None, deadline: float | None) -> bool:
    """Waits until the reader may have events; False once the deadline passed."""
    if waiter is not None:
        return await _until(waiter, deadline)
    loop = asyncio.get_running_loop()
    if deadline is None:
        wait = _SLICE
    else:
        wait = min(_SLICE, deadline - loop.time())
        if wait <= 0:
            return False
    await loop.run_in_executor(None, reader._wait_ready, wait)
    return True


async def _take(reader: Reader, take: Callable[[], T], timeout: float | None) -> T:
    """Calls ``take()`` (a non-blocking poll) until it finds something, waiting between calls
    by the reader's waiter (or, for a follower, on the executor); what it last returned once
    the timeout passed."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    waiter = None
    try:
        while True:
            got = take()
            if got:
                return got
            if waiter is None:
                waiter = reader._waiter()
            if not await _wait(reader, waiter, deadline):
                return got
    finally:
        if waiter is not None:
            waiter.release()


async def poll(reader: Reader, timeout: float | None) -> Event | None:
    """``await reader.poll_async(timeout)``."""
    return await _take(reader, lambda: reader.poll(0), timeout)


async def poll_batch(reader: Reader, max_events: int, timeout: float | None) -> EventBatch:
    """``await reader.poll_batch_async(max_events, timeout)``."""
    return await _take(reader, lambda: reader.poll_batch(max_events, 0), timeout)


async def anext(reader: Reader) -> Event:
    """``async for event in reader``: ends once the topic is closed and drained."""
    try:
        event = await poll(reader, None)
    except ClosedError:
        raise StopAsyncIteration from None
    assert event is not None  # no timeout: only an event or the end
    return event


async def ticket(t: Ticket) -> None:
    """``await ticket``: returns once durable; raises PoisonedError if it never will be."""
    await _until(t._waiter(), None)
