"""Named load shapes as pure functions of time: (users, spawn_rate) at t seconds, or None = stop.

The locustfile's one LoadTestShape calls `tick(name, t, peak, seconds)` with the options
--shape, --peak-users and --shape-seconds, so the shapes are testable without Locust.

  ramp   1 -> peak users linearly over the run
  step   `STEPS` equal steps up to peak, each seconds/STEPS long (the autoscaling check's shape)
  spike  peak/4 users; at 40% of the run a jump to peak (spawned at once) for 20%; back to peak/4
  soak   peak users for the whole run (default 30 minutes via --shape-seconds)
"""

from __future__ import annotations

import math

SHAPES = ("ramp", "step", "spike", "soak")
STEPS = 4


def tick(name: str, t: float, peak: int, seconds: float, steps: int = STEPS) -> tuple[int, float] | None:
    if name not in SHAPES:
        raise ValueError(f"unknown shape {name!r}; one of {SHAPES}")
    if peak < 1 or seconds <= 0:
        raise ValueError("a shape needs peak >= 1 user and a positive duration")
    if t >= seconds:
        return None
    if name == "ramp":
        users = max(1, math.ceil(peak * t / seconds))
        return users, max(1.0, peak / seconds)
    if name == "step":
        i = min(steps - 1, int(t // (seconds / steps)))
        return max(1, math.ceil(peak * (i + 1) / steps)), float(peak)
    if name == "spike":
        base = max(1, peak // 4)
        if 0.4 * seconds <= t < 0.6 * seconds:
            return peak, float(peak)
        return base, float(peak)
    return peak, max(1.0, peak / 10)  # soak: a gentle ramp to peak, then hold
