#!/usr/bin/python3
"""Peer benchmark: gevent.

Run with the Debian interpreter (/usr/bin/python3 + python3-gevent).
Prints lines: peer=gevent bench=<name> value=<number> unit=<ns|s|KiB>

Each micro-benchmark does one untimed warm-up pass, then REPS timed passes,
and reports the median.
"""
import statistics
import sys
import time

import gevent
from gevent.event import Event
from gevent.queue import Queue

PEER = "gevent"
REPS = 3
N_SLEEPERS = 100_000


def emit(name, value, unit):
    print(f"peer={PEER} bench={name} value={value:.6g} unit={unit}", flush=True)


def vm_hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("VmHWM not found")


def median_of(fn, n):
    fn(max(1, n // 10))  # warm-up
    return statistics.median(fn(n) for _ in range(REPS))


# 1. yield: two greenlets alternate via sleep(0); 2*n yields total.
def bench_yield(n):
    def worker():
        for _ in range(n):
            gevent.sleep(0)

    t0 = time.perf_counter_ns()
    a = gevent.spawn(worker)
    b = gevent.spawn(worker)
    gevent.joinall([a, b])
    return (time.perf_counter_ns() - t0) / (2 * n)


# 2. spawn_join: spawn a greenlet that returns immediately, join it.
def bench_spawn_join(n):
    def nothing():
        pass

    spawn = gevent.spawn
    t0 = time.perf_counter_ns()
    for _ in range(n):
        g = spawn(nothing)
        g.join()
    return (time.perf_counter_ns() - t0) / n


# 3. sleepers: N greenlets each sleeping (i % 100) ms, all joined.
def bench_sleepers():
    before = vm_hwm_kib()
    t0 = time.perf_counter()
    gs = [gevent.spawn(gevent.sleep, (i % 100) / 1000.0) for i in range(N_SLEEPERS)]
    gevent.joinall(gs, raise_error=True)
    wall = time.perf_counter() - t0
    after = vm_hwm_kib()
    del gs
    emit("sleepers", wall, "s")
    emit("sleepers_mem", (after - before) / N_SLEEPERS, "KiB")


# 4. event_pingpong: Event set/wait/clear in each direction; ns per round trip.
def bench_event_pingpong(n):
    ping, pong = Event(), Event()

    def ponger():
        for _ in range(n):
            ping.wait()
            ping.clear()
            pong.set()

    t0 = time.perf_counter_ns()
    g = gevent.spawn(ponger)
    for _ in range(n):
        ping.set()
        pong.wait()
        pong.clear()
    g.join()
    return (time.perf_counter_ns() - t0) / n


# 5. queue_pingpong: one item goes there through q1 and back through q2;
#    ns per round trip (two queue transfers).
def bench_queue_pingpong(n):
    q1, q2 = Queue(), Queue()

    def ponger():
        get, put = q1.get, q2.put
        for _ in range(n):
            put(get())

    t0 = time.perf_counter_ns()
    g = gevent.spawn(ponger)
    put, get = q1.put, q2.get
    for i in range(n):
        put(i)
        get()
    g.join()
    return (time.perf_counter_ns() - t0) / n


def main():
    # sleepers first, so the VmHWM baseline is not inflated by earlier runs.
    bench_sleepers()
    emit("yield", median_of(bench_yield, 200_000), "ns")
    emit("spawn_join", median_of(bench_spawn_join, 50_000), "ns")
    emit("event_pingpong", median_of(bench_event_pingpong, 100_000), "ns")
    emit("queue_pingpong", median_of(bench_queue_pingpong, 100_000), "ns")


if __name__ == "__main__":
    sys.exit(main())
