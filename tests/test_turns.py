"""L1: turns.py: slots handed out in turn across owners, FIFO within one; a waiting job's place in
line; a cancel takes a job out of line; waiting holds no thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

import turns


def test_another_owners_job_waits_for_at_most_one_of_theirs_per_slot():
    line = turns.Turns(lambda: 1)
    order: list[str] = []

    async def job(owner: str, job_id: str, done: asyncio.Event):
        async with line.take(owner, job_id):
            order.append(job_id)
            await done.wait()  # holds the slot until the test lets it finish

    async def until(condition):
        while not condition():
            await asyncio.sleep(0.001)

    async def scenario():
        done = asyncio.Event()
        tasks = [asyncio.create_task(job("A", f"a{i}", done)) for i in range(40)]
        await until(lambda: order == ["a0"] and line.waiting("A") == 39)
        tasks.append(asyncio.create_task(job("B", "b0", done)))
        tasks += [asyncio.create_task(job("C", f"c{i}", done)) for i in range(2)]
        await until(lambda: line.waiting() == 42)
        done.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    # a0 was running when B and C came; then their first jobs, before any more of A's.
    assert order[:5] == ["a0", "b0", "c0", "a1", "c1"]
    assert [j for j in order if j.startswith("a")] == [f"a{i}" for i in range(40)]  # FIFO
    assert order.index("c1") < order.index("a2")


def test_place_in_line_follows_the_turns_not_the_arrivals():
    line = turns.Turns(lambda: 1)
    running = line._join("A", "a0")
    assert running.granted.is_set()
    for job_id in ("a1", "a2", "a3"):
        line._join("A", job_id)
    line._join("B", "b1")
    # A was served last (a0 runs): B's b1 first, then A's in their order.
    assert [line.place(j) for j in ("b1", "a1", "a2", "a3")] == [0, 1, 2, 3]
    assert line.place("a0") is None and line.waiting("A") == 3 and line.waiting() == 4


def test_as_many_run_at_once_as_there_are_slots():
    slots = [2]
    line = turns.Turns(lambda: slots[0])
    tickets = [line._join("A", f"a{i}") for i in range(5)]
    assert [t.granted.is_set() for t in tickets] == [True, True, False, False, False]
    line._leave(tickets[0])
    assert tickets[2].granted.is_set() and not tickets[3].granted.is_set()
    assert line.running() == 2


def test_a_cancelled_job_leaves_the_line_and_the_next_moves_up():
    line = turns.Turns(lambda: 1)
    seen: list[int] = []

    async def scenario():
        first = line._join("A", "a0")  # holds the slot

        async def waiter():
            async with line.take("A", "a1", waiting=seen.append):
                pass

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        assert line.place("a1") == 0 and seen == [0]
        assert threading.Thread(target=line.drop, args=("a1",)).start() is None
        with pytest.raises(turns.Dropped):
            await asyncio.wait_for(task, timeout=5)
        assert line.place("a1") is None and not line.drop("a1")
        line._leave(first)

    asyncio.run(scenario())
    assert line.running() == 0 and line.waiting() == 0


def test_a_thread_waits_its_turn_beside_the_event_loops_jobs():
    line = turns.Turns(lambda: 1)
    order: list[str] = []

    def resumed():
        with line.take_blocking("A", "resumed"):
            order.append("resumed")

    async def scenario():
        async with line.take("B", "b0"):
            thread = threading.Thread(target=resumed)
            thread.start()
            while line.waiting() == 0:
                await asyncio.sleep(0.01)
            order.append("b0")
        await asyncio.to_thread(thread.join, 10)

    asyncio.run(scenario())
    assert order == ["b0", "resumed"] and line.running() == 0


def test_a_task_cancelled_while_waiting_gives_its_place_back():
    line = turns.Turns(lambda: 1)

    async def scenario():
        holder = line._join("A", "a0")

        async def waiter():
            async with line.take("B", "b0"):
                pass

        task = asyncio.create_task(waiter())
        while line.waiting() == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert line.waiting() == 0
        line._leave(holder)
        assert line.running() == 0

    asyncio.run(scenario())


def test_submitting_one_job_at_a_time_gets_a_turn_like_everyone_else_not_more():
    """A batch joins the line one job at a time (the next once the last ended): it must not count
    as a newcomer each time, or it would take every other turn from owners with queues."""
    line = turns.Turns(lambda: 1)
    running = line._join("A", "a0")
    order = ["A"]
    for i in range(10):
        line._join("C", f"c{i}")
        line._join("D", f"d{i}")
    sent = 1
    for _ in range(21):
        owner = running.owner
        line._leave(running)
        if owner == "A" and sent < 10:
            line._join("A", f"a{sent}")
            sent += 1
        [running] = list(line._running)
        order.append(running.owner)
    assert "".join(order[:12]) == "ACDACDACDACD"


def test_an_owner_long_idle_comes_back_first_and_the_memory_stays_small():
    line = turns.Turns(lambda: 1)
    for n in range(200):  # two hundred owners, one job each, one after the other
        line._leave(line._join(f"o{n}", f"j{n}"))
    assert len(line._last) <= 1
    busy = line._join("B", "b0")
    line._join("B", "b1")
    line._join("old", "x")  # served long ago (forgotten): before B's second
    assert line.place("x") == 0 and line.place("b1") == 1
    line._leave(busy)
