"""The instructor's door (issue 22): how many wrong passwords one client address may try.

After ``max_failures`` wrong attempts from one address within ``window_s`` seconds, that address is locked out for
``lockout_s`` seconds: every attempt from it is refused, the right password too, without being compared. Other
addresses are not affected; a right password (while not locked out) forgets the address's earlier wrong tries.
Every wrong attempt and every attempt refused while locked out is logged on the ``workbench.instructor`` logger
(WARNING) with the time and the address, never the text tried. Nothing here knows passwords or gradio:
core/serving/instructor.py asks the door, ui/handlers/admin.py passes the client address.

    door = Door(clock=time.monotonic)   5 wrong tries a minute, then locked a minute (the clock is injectable)
    door.wait_s(address)                seconds ``address`` must still wait (0.0: it may try); logs a refused try
    door.failed(address)                a wrong try; True when it locks the address out
    door.succeeded(address)             a right password: the address's wrong tries are forgotten
"""
from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import deque
from typing import Callable

log = logging.getLogger("workbench.instructor")

MAX_FAILURES = 5
"""Wrong tries one address may make within WINDOW_S before it is locked out."""
WINDOW_S = 60.0
LOCKOUT_S = 60.0


def _now_utc() -> str:
    """The wall-clock time for a log line (the door's own clock may be monotonic or fake)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Door:
    """Per-address counting of wrong passwords, with a lock-out (thread-safe)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, lockout_s: float = LOCKOUT_S,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window_s, self.lockout_s, self.clock = max_failures, window_s, lockout_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        """Drop tries older than the window and lock-outs that are over (the maps stay as small as the live ones)."""
        for address in [a for a, until in self._locked_until.items() if until <= now]:
            del self._locked_until[address]
        for address, times in list(self._failures.items()):
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[address]

    def wait_s(self, address: str) -> float:
        """Seconds ``address`` is still locked out for (0.0: it may try). A refused try is logged."""
        with self._lock:
            now = self.clock()
            self._forget_old(now)
            left = self._locked_until.get(address, now) - now
        if left > 0:
            log.warning("%s instructor password try refused from %s: locked out for %.0f s more",
                        _now_utc(), address, left)
            return left
        return 0.0

    def failed(self, address: str) -> bool:
        """Count a wrong try from ``address`` (logged); True when it is the one that locks the address out."""
        with self._lock:
            now = self.clock()
            self._forget_old(now)
            times = self._failures.setdefault(address, deque())
            times.append(now)
            n = len(times)
            locked = n >= self.max_failures
            if locked:
                self._locked_until[address] = now + self.lockout_s
                del self._failures[address]
        log.warning("%s wrong instructor password from %s (%d within %.0f s)%s", _now_utc(), address, n,
                    self.window_s, f": locked out for {self.lockout_s:.0f} s" if locked else "")
        return locked

    def succeeded(self, address: str) -> None:
        """A right password from ``address``: its earlier wrong tries no longer count."""
        with self._lock:
            self._failures.pop(address, None)
