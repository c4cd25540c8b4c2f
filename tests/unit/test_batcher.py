"""closet.serving.batcher: concurrent submissions become batched calls, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from closet.serving.batcher import Batcher, BatchStats, QueueFull


class Recorder:
    """A blocking `run` that records its batches and the thread it ran on."""

    def __init__(self, seconds: float = 0.0, fail_on: object = None):
        self.seconds = seconds
        self.fail_on = fail_on
        self.batches: list[list] = []
        self.threads: set[str] = set()

    def __call__(self, items: list) -> list:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [f"r{x}" for x in items]


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submissions_within_the_delay_form_one_batch_in_order():
    rec, stats = Recorder(), []

    async def main():
        b = Batcher(rec, max_size=4, max_delay_s=0.2, on_batch=stats.append)
        out = await asyncio.gather(*(b.submit(i) for i in range(3)))
        await b.close()
        return out

    assert run(main()) == ["r0", "r1", "r2"]
    assert rec.batches == [[0, 1, 2]]
    assert len(stats) == 1 and stats[0].size == 3 and len(stats[0].waited_s) == 3
    assert all(0 <= w < 0.5 for w in stats[0].waited_s)
    assert rec.threads and not any(t == threading.main_thread().name for t in rec.threads)


def test_max_size_splits_and_requests_arriving_during_a_batch_form_the_next():
    rec = Recorder(seconds=0.2)

    async def main():
        b = Batcher(rec, max_size=4, max_delay_s=0.05)
        first = [asyncio.create_task(b.submit(i)) for i in range(6)]  # 4 + 2
        await asyncio.sleep(0.1)  # the first batch is running now
        late = [asyncio.create_task(b.submit(i)) for i in range(6, 9)]
        out = await asyncio.gather(*first, *late)
        await b.close()
        return out

    assert run(main()) == [f"r{i}" for i in range(9)]
    assert [len(x) for x in rec.batches][0] == 4
    assert sorted(x for batch in rec.batches for x in batch) == list(range(9))
    assert all(len(x) <= 4 for x in rec.batches)
    assert len(rec.batches) == 3  # [0-3], then [4, 5, 6, 7] (queued while the first ran), then [8]


def test_a_lone_request_waits_about_the_delay_then_runs_alone():
    rec = Recorder()

    async def main():
        b = Batcher(rec, max_size=4, max_delay_s=0.15)
        t0 = time.perf_counter()
        out = await b.submit("x")
        dt = time.perf_counter() - t0
        await b.close()
        return out, dt

    out, dt = run(main())
    assert out == "rx" and rec.batches == [["x"]]
    assert 0.14 <= dt < 1.0


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on():
    rec = Recorder(fail_on=1)

    async def main():
        b = Batcher(rec, max_size=4, max_delay_s=0.1)
        results = await asyncio.gather(*(b.submit(i) for i in range(3)), return_exceptions=True)
        after = await b.submit(5)
        await b.close()
        return results, after

    results, after = run(main())
    assert all(isinstance(r, ValueError) for r in results)
    assert after == "r5"


def test_a_result_count_mismatch_fails_the_batch():
    async def main():
        b = Batcher(lambda items: items[:-1], max_size=4, max_delay_s=0.05)
        results = await asyncio.gather(b.submit(1), b.submit(2), return_exceptions=True)
        await b.close()
        return results

    assert all(isinstance(r, RuntimeError) and "2 items" in str(r) for r in run(main()))


def test_the_event_loop_keeps_answering_while_a_batch_runs():
    """A 0.6 s forward pass must not stall other coroutines (KServe's liveness probe, kserve#3950)."""
    rec = Recorder(seconds=0.6)

    async def main():
        b = Batcher(rec, max_size=2, max_delay_s=0.0)
        job = asyncio.create_task(b.submit(1))
        ticks, t0 = [], time.perf_counter()
        while not job.done():
            await asyncio.sleep(0.02)
            ticks.append(time.perf_counter() - t0)
        await b.close()
        return ticks

    ticks = run(main())
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 10 and max(gaps) < 0.3


def test_queue_limit_refuses_the_extra_request():
    rec = Recorder(seconds=0.3)

    async def main():
        b = Batcher(rec, max_size=1, max_delay_s=0.0, max_queue=2)
        running = asyncio.create_task(b.submit(0))
        await asyncio.sleep(0.05)  # 0 is running; the queue is empty again
        queued = [asyncio.create_task(b.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await b.submit(3)
        out = await asyncio.gather(running, *queued)
        await b.close()
        return out

    assert run(main()) == ["r0", "r1", "r2"]


def test_a_cancelled_caller_is_left_out_of_its_batch():
    rec = Recorder()

    async def main():
        b = Batcher(rec, max_size=4, max_delay_s=0.1)
        gone = asyncio.create_task(b.submit("gone"))
        kept = asyncio.create_task(b.submit("kept"))
        await asyncio.sleep(0.01)
        gone.cancel()
        out = await kept
        await b.close()
        return out

    assert run(main()) == "rkept"
    assert rec.batches == [["kept"]]


def test_two_workers_run_two_batches_at_once():
    rec, stats = Recorder(seconds=0.4), []

    async def main():
        b = Batcher(rec, max_size=1, max_delay_s=0.0, workers=2, on_batch=stats.append)
        t0 = time.perf_counter()
        await asyncio.gather(b.submit(1), b.submit(2))
        dt = time.perf_counter() - t0
        await b.close()
        return dt

    assert run(main()) < 0.75  # two 0.4 s batches side by side, not one after the other
    assert len(rec.threads) == 2 and all(isinstance(s, BatchStats) for s in stats)


@pytest.mark.parametrize("kw", [dict(max_size=0), dict(max_delay_s=-1), dict(workers=0), dict(max_queue=-1)])
def test_bad_settings_are_refused(kw):
    args = dict(max_size=1, max_delay_s=0.0) | kw
    with pytest.raises(ValueError):
        Batcher(lambda x: x, **args)
