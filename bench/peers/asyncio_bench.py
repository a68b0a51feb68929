"""bench/peers/asyncio_bench.py -- the workloads on asyncio with
TaskGroup (Python 3.11+), default event loop.
    /usr/bin/python3 bench/peers/asyncio_bench.py W [N] [seconds]"""
import asyncio

import common
from common import now, check

W, N, SECS = common.args()


async def w1():
    done = 0

    async def child():
        nonlocal done
        await asyncio.sleep(0)
        done += 1

    t0 = now()
    common.mark()
    async with asyncio.TaskGroup() as tg:
        for _ in range(N):
            tg.create_task(child())
    t = now() - t0
    check(done == N, "W1: %d of %d tasks ran" % (done, N))
    common.result("W1", "seconds", t, "n", N)


async def w2():
    started = closed = 0
    loop = asyncio.get_running_loop()

    async def child():
        nonlocal started, closed
        try:
            started += 1
            await loop.create_future()          # blocked forever
            common.fail("W2: a task woke without being cancelled")
        finally:
            closed += 1

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(child()) for _ in range(N)]
        while started < N:
            await asyncio.sleep(0)
        common.settle()
        t0 = now()
        common.mark()
        for t in tasks:                         # TaskGroup has no cancel()
            t.cancel()
    t = now() - t0
    check(closed == N and all(t.cancelled() for t in tasks),
          "W2: %d of %d tasks unwound" % (closed, N))
    common.result("W2", "seconds", t, "n", N)


async def w3():
    # asyncio has no rendezvous channel; a one-slot Queue is the idiom.
    ping, pong = asyncio.Queue(1), asyncio.Queue(1)
    handoffs = 0

    async def pinger():
        for i in range(1, N // 2 + 1):
            await ping.put(i)
            v = await pong.get()
            if v != i:
                common.fail("W3: got %r, want %d" % (v, i))
        await ping.put(None)

    async def ponger():
        nonlocal handoffs
        while (v := await ping.get()) is not None:
            handoffs += 2
            await pong.put(v)

    t0 = now()
    common.mark()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(pinger())
        tg.create_task(ponger())
    t = now() - t0
    check(handoffs == N // 2 * 2, "W3: %d hand-offs, want %d" % (handoffs, N))
    common.result("W3", "ns_per_handoff", t / handoffs * 1e9, "seconds", t,
                  "n", handoffs)


async def w4():
    dur, late = common.durations(N), [None] * N

    async def sleeper(i):
        d = dur[i]
        t = now()
        await asyncio.sleep(d)
        late[i] = now() - (t + d)

    t0 = now()
    async with asyncio.TaskGroup() as tg:
        for i in range(N):
            tg.create_task(sleeper(i))
    common.report_w4("W4", N, now() - t0, late)


async def w5():
    started = 0
    loop = asyncio.get_running_loop()

    async def child():
        nonlocal started
        started += 1
        await loop.create_future()

    base = common.mem_baseline()
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(child()) for _ in range(N)]
        while started < N:
            await asyncio.sleep(0)
        peak = common.mem()[1]
        for t in tasks:
            t.cancel()
    check(started == N, "W5: %d of %d tasks blocked" % (started, N))
    common.result("W5", "bytes_per_task", (peak - base) / N, "base", base,
                  "peak", peak, "n", N)


async def w6():
    msg, lat = common.MSG, []
    served = 0

    async def handle(reader, writer):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t0 = now()
    t_end = t0 + SECS

    async def client():
        nonlocal served
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        mine = 0
        while now() < t_end:
            t = now()
            writer.write(msg)
            await writer.drain()
            got = await reader.readexactly(len(msg))
            lat.append(now() - t)
            if got != msg:
                common.fail("W6: bad echo %r" % got)
            mine += 1
        if mine:
            served += 1
        writer.close()
        await writer.wait_closed()

    async with asyncio.TaskGroup() as tg:
        for _ in range(N):
            tg.create_task(client())
    elapsed = now() - t0
    server.close()
    await server.wait_closed()
    check(served == N, "W6: %d of %d clients were served" % (served, N))
    common.report_w6("W6", N, len(lat), elapsed, lat)


asyncio.run({"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}[W]())
