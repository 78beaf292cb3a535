"""asyncio for readers: waits run on the loop's default executor and take no events there,
so a cancelled await loses nothing; events are taken on the loop's thread."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ._errors import ClosedError

if TYPE_CHECKING:
    from ._ringbus import Event, EventBatch, Reader

# The longest a worker thread waits before the coroutine looks again.
_SLICE = 0.1


async def _wait(reader: Reader, deadline: float | None) -> bool:
    """Waits until the reader may have events; False once the deadline passed."""
    loop = asyncio.get_running_loop()
    if deadline is None:
        wait = _SLICE
    else:
        wait = min(_SLICE, deadline - loop.time())
        if wait <= 0:
            return False
    await loop.run_in_executor(None, reader._wait_ready, wait)
    return True


async def poll(reader: Reader, timeout: float | None) -> Event | None:
    """``await reader.poll_async(timeout)``."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        event = reader.poll(0)
        if event is not None:
            return event
        if not await _wait(reader, deadline):
            return None


async def poll_batch(reader: Reader, max_events: int, timeout: float | None) -> EventBatch:
    """``await reader.poll_batch_async(max_events, timeout)``."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        batch = reader.poll_batch(max_events, 0)
        if len(batch) > 0:
            return batch
        if not await _wait(reader, deadline):
            return batch


async def anext(reader: Reader) -> Event:
    """``async for event in reader``: ends once the topic is closed and drained."""
    try:
        event = await poll(reader, None)
    except ClosedError:
        raise StopAsyncIteration from None
    assert event is not None  # no timeout: only an event or the end
    return event
