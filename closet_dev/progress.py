"""Progress of a long job: a tqdm bar with an ETA on a terminal, plain log lines with the ETA elsewhere.

    with Progress(total=steps, desc="train", unit="step", log=log) as bar:   # or bar = Progress(...); bar.close()
        for step in range(steps):
            ...
            bar.update()

On a terminal (stderr is a TTY) tqdm draws the bar and log records are written above it
(logging_redirect_tqdm). Anywhere else (CI logs, files) nothing is drawn; instead one plain line
`train: 120/500 (24%) [00:40<02:07, 3.00step/s]` is logged every `every_s` seconds and at the end.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

T = TypeVar("T")
PLAIN_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}]"
DEFAULT_EVERY_S = 30.0


class Progress:
    """A bar on a terminal, periodic plain log lines otherwise; `update(n)` or `set(done)` as work completes."""

    def __init__(self, total: int, desc: str, unit: str = "it", log: logging.Logger | None = None,
                 every_s: float = DEFAULT_EVERY_S, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.desc, self.unit = total, desc, unit
        self.log = log or logging.getLogger(__name__)
        self.every_s = every_s
        self.n = 0
        self.t0 = time.monotonic()
        self._last_line = self.t0
        self._stack = ExitStack()
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, disable=not self.interactive,
                        dynamic_ncols=True)
        if self.interactive:  # log records go above the bar instead of through it, until close()
            self._stack.enter_context(logging_redirect_tqdm())

    def line(self) -> str:
        """The plain progress line (what CI logs show)."""
        return tqdm.format_meter(self.n, self.total, time.monotonic() - self.t0, prefix=self.desc, unit=self.unit,
                                 bar_format=PLAIN_FORMAT)

    def update(self, n: int = 1) -> None:
        self.n += n
        self.bar.update(n)
        self._maybe_log()

    def set(self, done: int) -> None:
        """Absolute progress (e.g. models READY so far)."""
        if done != self.n:
            self.update(done - self.n)
        else:
            self._maybe_log()

    def _maybe_log(self, force: bool = False) -> None:
        if self.interactive:
            return
        now = time.monotonic()
        if force or now - self._last_line >= self.every_s:
            self._last_line = now
            self.log.info("%s", self.line())

    def close(self) -> None:
        self._maybe_log(force=True)
        self.bar.close()
        self._stack.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], total: int | None = None, **kwargs) -> Iterator[T]:
    """Iterate `items` with a Progress (total defaults to len(items))."""
    if total is None:
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, **kwargs) as bar:
        for item in items:
            yield item
            bar.update()
