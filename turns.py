"""Whose job runs next: one job per GPU slot at a time, the slots handed out in turn across owners.

Gradio's queue serves first come, first served, so one visitor's forty submissions would keep
everyone else waiting behind all of them. Every job instead waits here for a slot: when one
frees, the owner whose turn it is gets it: of the owners with waiting jobs, the one served
longest ago (a newcomer first), an owner's own jobs in the order they came. So another visitor's
job waits for the jobs running when it came and none of the queue behind them. On a single-user
install every job has the one owner, and that is plain FIFO.

A job waits without holding a thread (`acquire` / `take`, awaited on the server's event loop) or,
off the loop, blocking its own thread (`take_blocking`: jobs resumed after a restart); a cancel
from any thread takes a waiting job out of line (`drop`). A slot granted on the loop may be handed
to the thread that runs the job, which gives it back when the job ends (`Ticket.claim`: the
thread, or the handler that gave up before the thread started, whichever claims it first).
`place` says how many jobs will start before a waiting one, so the page can show its place in
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

Waiting = Callable[[int], None]  # told the number of jobs ahead whenever it changes


@dataclass(eq=False)
class Ticket:
    owner: str
    job_id: str
    number: int
    granted: threading.Event = field(default_factory=threading.Event)
    dropped: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future | None = None
    _claim: threading.Lock = field(default_factory=threading.Lock)
    _claimed: bool = False

    def claim(self) -> bool:
        """True exactly once: whoever gets it gives the slot back."""
        with self._claim:
            first, self._claimed = not self._claimed, True
            return first

    def grant(self) -> None:
        self.granted.set()
        if self.loop is not None and self.future is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed (shutting down)
                self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _next_owner(lines: dict, last: dict) -> str:
    """Of the owners with waiting jobs (`lines`), the one served longest ago (`last`: never
    served goes first), the earliest waiting job on a tie: `_hand_out` and `place` both ask."""
    return min(lines, key=lambda o: (last.get(o, -1), lines[o][0].number))


class Dropped(Exception):
    """The job was taken out of line (cancelled) before its turn came."""


class Turns:
    def __init__(self, slots: Callable[[], int]) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._lines: OrderedDict[str, deque[Ticket]] = OrderedDict()  # owners by arrival
        self._running: set[Ticket] = set()
        self._numbers = itertools.count()
        self._grants = itertools.count()
        # owner -> when (grant number) they last got a slot: kept while they wait or run.
        self._last: dict[str, int] = {}

    # -- waiting

    def _join(self, owner: str, job_id: str) -> Ticket:
        slots = self._slots()  # outside the lock: it may ask the worker pool
        with self._lock:
            ticket = Ticket(owner, job_id, next(self._numbers))
            self._lines.setdefault(owner, deque()).append(ticket)
            self._hand_out(slots)
            return ticket

    async def acquire(self, owner: str, job_id: str, waiting: Waiting | None = None) -> Ticket:
        """Wait (on the event loop) for this job's turn; the granted ticket holds a slot until
        `release`. Raises `Dropped` when cancelled meanwhile; a cancelled task leaves the line."""
        ticket = self._join(owner, job_id)
        loop = asyncio.get_running_loop()
        ticket.loop, ticket.future = loop, loop.create_future()
        if ticket.granted.is_set():
            _resolve(ticket.future)
        try:
            await self._wait_async(ticket, waiting)
        except BaseException:
            self._leave(ticket)
            raise
        return ticket

    def release(self, ticket: Ticket) -> None:
        self._leave(ticket)

    @contextlib.asynccontextmanager
    async def take(
        self, owner: str, job_id: str, waiting: Waiting | None = None
    ) -> AsyncIterator[None]:
        """Wait (on the event loop) for this job's turn, hold its slot for the block."""
        ticket = await self.acquire(owner, job_id, waiting)
        try:
            yield
        finally:
            self._leave(ticket)

    async def _wait_async(self, ticket: Ticket, waiting: Waiting | None) -> None:
        said = None
        while not ticket.granted.is_set():
            if ticket.dropped:
                raise Dropped(ticket.job_id)
            ahead = self.place(ticket.job_id)
            if waiting is not None and ahead is not None and ahead != said:
                said = ahead
                waiting(ahead)
            with contextlib.suppress(asyncio.TimeoutError):
                # Woken by its grant; the timeout only refreshes the place shown meanwhile.
                await asyncio.wait_for(asyncio.shield(ticket.future), timeout=1.0)
        if ticket.dropped:
            raise Dropped(ticket.job_id)

    @contextlib.contextmanager
    def take_blocking(
        self, owner: str, job_id: str, waiting: Waiting | None = None
    ) -> Iterator[None]:
        """`take` for a thread that is not the event loop's."""
        ticket = self._join(owner, job_id)
        try:
            said = None
            while not ticket.granted.wait(timeout=1.0):
                if ticket.dropped:
                    raise Dropped(job_id)
                ahead = self.place(job_id)
                if waiting is not None and ahead is not None and ahead != said:
                    said = ahead
                    waiting(ahead)
            if ticket.dropped:
                raise Dropped(job_id)
            yield
        finally:
            self._leave(ticket)

    def _leave(self, ticket: Ticket) -> None:
        slots = self._slots()
        with self._lock:
            self._running.discard(ticket)
            line = self._lines.get(ticket.owner)
            if line is not None and ticket in line:
                line.remove(ticket)
                if not line:
                    del self._lines[ticket.owner]
            self._forget()
            self._hand_out(slots)

    def _forget(self) -> None:
        """Keep `_last` small without changing any order: an owner with nothing waiting or running
        who was served before every owner that is may go, since, coming back, it would go first
        anyway (a newcomer's place). An owner who just had its turn is remembered, so submitting
        one job at a time does not jump the line."""
        active = set(self._lines) | {t.owner for t in self._running}
        oldest = min((self._last.get(o, -1) for o in active), default=None)
        for owner in [o for o, last in self._last.items() if o not in active]:
            if oldest is None or self._last[owner] < oldest:
                del self._last[owner]

    def drop(self, job_id: str) -> bool:
        """Take a waiting job out of line (it raises `Dropped`); False if it is not waiting."""
        slots = self._slots()
        with self._lock:
            for owner, line in list(self._lines.items()):
                for ticket in line:
                    if ticket.job_id == job_id:
                        line.remove(ticket)
                        if not line:
                            del self._lines[owner]
                        ticket.dropped = True
                        ticket.grant()  # wakes it, to raise
                        self._forget()
                        self._hand_out(slots)
                        return True
        return False

    def _hand_out(self, slots: int) -> None:
        """Grant free slots, one job at a time, owners in turn. Under the lock."""
        while self._lines and len(self._running) < max(1, int(slots)):
            owner = _next_owner(self._lines, self._last)
            line = self._lines[owner]
            ticket = line.popleft()
            if not line:
                del self._lines[owner]
            self._last[owner] = next(self._grants)
            self._running.add(ticket)
            ticket.grant()

    # -- what the page shows

    def place(self, job_id: str) -> int | None:
        """How many waiting jobs start before this one (None: it is not waiting), by playing
        the turns forward as `_hand_out` will take them."""
        with self._lock:
            lines = {owner: deque(line) for owner, line in self._lines.items()}
            last = dict(self._last)
        ahead, grant = 0, 0
        while lines:
            owner = _next_owner(lines, last)
            ticket = lines[owner].popleft()
            if ticket.job_id == job_id:
                return ahead
            if not lines[owner]:
                del lines[owner]
            last[owner] = 10**12 + grant  # after every turn already taken
            grant += 1
            ahead += 1
        return None

    def waiting(self, owner: str | None = None) -> int:
        """Jobs waiting for a slot (of `owner`, or everyone's)."""
        with self._lock:
            if owner is not None:
                return len(self._lines.get(owner, ()))
            return sum(len(line) for line in self._lines.values())

    def holds(self, job_id: str) -> bool:
        """Whether this job has been granted a slot (it is starting or running)."""
        with self._lock:
            return any(t.job_id == job_id for t in self._running)

    def running(self) -> int:
        with self._lock:
            return len(self._running)
