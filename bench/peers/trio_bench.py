"""bench/peers/trio_bench.py -- the workloads on Trio (nurseries, cancel
scopes, memory channels).
    /usr/bin/python3 bench/peers/trio_bench.py W [N] [seconds]"""
import math

import trio

import common
from common import now, check

W, N, SECS = common.args()


async def w1():
    done = 0

    async def child():
        nonlocal done
        await trio.lowlevel.checkpoint()
        done += 1

    t0 = now()
    common.mark()
    async with trio.open_nursery() as nursery:
        for _ in range(N):
            nursery.start_soon(child)
    t = now() - t0
    check(done == N, "W1: %d of %d tasks ran" % (done, N))
    common.result("W1", "seconds", t, "n", N)


async def w2():
    started = closed = 0

    async def child():
        nonlocal started, closed
        try:
            started += 1
            await trio.sleep_forever()
        finally:
            closed += 1

    async with trio.open_nursery() as nursery:
        for _ in range(N):
            nursery.start_soon(child)
        while started < N:
            await trio.lowlevel.checkpoint()
        common.settle()
        t0 = now()
        common.mark()
        nursery.cancel_scope.cancel()
    t = now() - t0
    check(closed == N, "W2: %d of %d tasks unwound" % (closed, N))
    common.result("W2", "seconds", t, "n", N)


async def w3():
    ping_tx, ping_rx = trio.open_memory_channel(0)
    pong_tx, pong_rx = trio.open_memory_channel(0)
    handoffs = 0

    async def pinger():
        async with ping_tx:
            for i in range(1, N // 2 + 1):
                await ping_tx.send(i)
                v = await pong_rx.receive()
                if v != i:
                    common.fail("W3: got %r, want %d" % (v, i))

    async def ponger():
        nonlocal handoffs
        async for v in ping_rx:
            handoffs += 2
            await pong_tx.send(v)

    t0 = now()
    common.mark()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pinger)
        nursery.start_soon(ponger)
    t = now() - t0
    check(handoffs == N // 2 * 2, "W3: %d hand-offs, want %d" % (handoffs, N))
    common.result("W3", "ns_per_handoff", t / handoffs * 1e9, "seconds", t,
                  "n", handoffs)


async def w4():
    dur, late = common.durations(N), [None] * N

    async def sleeper(i):
        d = dur[i]
        t = now()
        await trio.sleep(d)
        late[i] = now() - (t + d)

    t0 = now()
    async with trio.open_nursery() as nursery:
        for i in range(N):
            nursery.start_soon(sleeper, i)
    common.report_w4("W4", N, now() - t0, late)


async def w5():
    started = 0

    async def child():
        nonlocal started
        started += 1
        await trio.sleep_forever()

    base = common.mem_baseline()
    async with trio.open_nursery() as nursery:
        for _ in range(N):
            nursery.start_soon(child)
        while started < N:
            await trio.lowlevel.checkpoint()
        peak = common.mem()[1]
        nursery.cancel_scope.cancel()
    check(started == N, "W5: %d of %d tasks blocked" % (started, N))
    common.result("W5", "bytes_per_task", (peak - base) / N, "base", base,
                  "peak", peak, "n", N)


async def w6():
    msg, lat = common.MSG, []
    served = 0

    async def handle(stream):
        async with stream:
            async for data in stream:
                await stream.send_all(data)

    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        t0 = now()
        t_end = t0 + SECS

        async def client():
            nonlocal served
            async with await trio.open_tcp_stream("127.0.0.1", port) as s:
                mine = 0
                while now() < t_end:
                    t = now()
                    await s.send_all(msg)
                    got = b""
                    while len(got) < len(msg):
                        got += await s.receive_some()
                    lat.append(now() - t)
                    if got != msg:
                        common.fail("W6: bad echo %r" % got)
                    mine += 1
            if mine:
                served += 1

        async with trio.open_nursery() as clients:
            for _ in range(N):
                clients.start_soon(client)
        elapsed = now() - t0
        nursery.cancel_scope.cancel()
    check(served == N, "W6: %d of %d clients were served" % (served, N))
    common.report_w6("W6", N, len(lat), elapsed, lat)


trio.run({"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}[W])
