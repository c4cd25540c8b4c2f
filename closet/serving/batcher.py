"""Dynamic batching on an asyncio event loop: concurrent requests to one model become one call.

    batcher = Batcher(handler.answer, max_size=4, max_delay_s=0.05)
    result = await batcher.submit(request)        # from any coroutine on the loop

What TorchServe's frontend does for a worker (batchSize, maxBatchDelay), in-process: the first
request of a batch waits at most `max_delay_s` for others, a batch holds at most `max_size`, and
requests that arrive while a batch runs form the next one. The blocking `run` (a forward pass)
runs on the batcher's own threads, `workers` batches at a time, so the event loop, and with it
the liveness probe, keeps answering while the model works (kserve#3950).

KServe's own batcher is the agent sidecar (`spec.predictor.batcher`), which merges the
`instances` of v1 requests over HTTP; nothing in kserve's Python server batches in-process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class QueueFull(RuntimeError):
    """More requests are waiting than the batcher's `max_queue` allows."""


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)  # seconds, perf_counter


@dataclass(frozen=True)
class BatchStats:
    """What one call of `run` saw: its size, and how long each of its requests waited before it started."""

    size: int
    waited_s: tuple[float, ...]
    run_s: float


class Batcher(Generic[T, R]):
    """Collects items submitted on one event loop into batches for a blocking `run(list) -> list`.

    Args:
        run: one result per item, in order (a length mismatch fails the whole batch).
        max_size: the most items per call (>= 1).
        max_delay_s: how long the first item of a batch waits for more (0: run at once).
        workers: calls of `run` in flight at a time, each on its own thread.
        max_queue: items allowed to wait; one more raises QueueFull from `submit` (0: no limit).
        on_batch: called on the loop after every call of `run` with its BatchStats (metrics).
        name: used for thread names and logs.
    """

    def __init__(self, run: Callable[[list[T]], Sequence[R]], max_size: int, max_delay_s: float, *,
                 workers: int = 1, max_queue: int = 0, on_batch: Callable[[BatchStats], None] | None = None,
                 name: str = "batcher"):
        if max_size < 1 or workers < 1 or max_delay_s < 0 or max_queue < 0:
            raise ValueError("need max_size >= 1, workers >= 1, max_delay_s >= 0, max_queue >= 0")
        self.run = run
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.name = name
        self._workers = workers
        self._pending: deque[_Waiting[T, R]] = deque()
        self._arrived: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return len(self._pending)

    def _start(self) -> None:
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix=f"{self.name}-worker")
        self._tasks = [asyncio.create_task(self._collect(), name=f"{self.name}-collector-{i}")
                       for i in range(self._workers)]

    async def submit(self, item: T) -> R:
        """Queue `item`, wait for its batch, return its result (or raise what `run` raised)."""
        if not self._tasks:
            self._start()
        if self.max_queue and len(self._pending) >= self.max_queue:
            raise QueueFull(f"{self.name}: {len(self._pending)} requests already waiting")
        waiting = _Waiting(item, asyncio.get_running_loop().create_future())
        self._pending.append(waiting)
        self._arrived.set()
        return await waiting.future

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            deadline = loop.time() + self.max_delay_s
            while len(self._pending) < self.max_size and (left := deadline - loop.time()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            batch = [self._pending.popleft() for _ in range(min(self.max_size, len(self._pending)))]
            batch = [w for w in batch if not w.future.done()]  # the caller gave up (client disconnected)
            if batch:
                await self._run(loop, batch)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting[T, R]]) -> None:
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.run, [w.item for w in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: run returned {len(results)} results for {len(batch)} items")
        except Exception as e:  # noqa: BLE001 (every waiting caller gets the failure; the batcher goes on)
            log.exception("%s: batch of %d failed", self.name, len(batch))
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(e)
        else:
            for w, r in zip(batch, results):
                if not w.future.done():
                    w.future.set_result(r)
        if self.on_batch is not None:
            try:
                self.on_batch(BatchStats(len(batch), tuple(started - w.enqueued for w in batch),
                                         time.perf_counter() - started))
            except Exception:  # noqa: BLE001 (metrics never fail a request)
                log.warning("%s: on_batch failed", self.name, exc_info=True)

    async def close(self) -> None:
        """Stop collecting (waiting callers are cancelled) and release the threads."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks = []
        while self._pending:
            w = self._pending.popleft()
            if not w.future.done():
                w.future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
