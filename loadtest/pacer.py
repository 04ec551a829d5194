"""Open-loop pacing: events leave at their scheduled times, whatever the replies do.

A closed loop (send, wait, send) slows down when the server does and hides the wait a real
user would see (coordinated omission). Here event i is due at start + i / rate; its latency is
measured from that due time, so a stalled server shows up as latency, not as a lower rate.
"""

import asyncio
from collections.abc import Callable

# index, due time (loop clock)
Fire = Callable[[int, float], None]


async def paced(rate: float, duration_s: float, fire: Fire, offset_s: float = 0.0) -> int:
    """Call `fire` `rate` times a second for `duration_s`; returns how many were fired."""
    if rate <= 0 or duration_s <= 0:
        return 0
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    start = loop.time() + offset_s
    end = start + duration_s
    index = 0
    while True:
        due = start + index * interval
        if due >= end:
            return index
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
            continue
        # Everything due by now goes out in one burst (timers wake at millisecond grain).
        while due <= now and due < end:
            fire(index, due)
            index += 1
            due = start + index * interval
        await asyncio.sleep(0)
