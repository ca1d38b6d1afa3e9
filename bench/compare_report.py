#!/usr/bin/env python3
"""Prints bench/compare.sh's Markdown tables from a result directory.

    bench/compare_report.py DIR

DIR holds what compare.sh keeps: machine.txt, peers.txt (bench/peers/run.sh's
lines) and the Google Benchmark JSON files of //bench. Three tables go to
stdout: geventpp side by side with the peers (ratios peer / geventpp; above
1, geventpp is faster or smaller), every geventpp figure against its target,
and the details without targets.
"""
import json, os, sys

out = sys.argv[1]
machine = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "machine.txt")) if "=" in l)

peers = {}
for line in open(os.path.join(out, "peers.txt")):
    f = dict(kv.split("=", 1) for kv in line.split())
    if "peer" in f:
        peers[(f["peer"], f["bench"])] = float(f["value"])

ours = []
for name in sorted(os.listdir(out)):
    if name.endswith(".json"):
        ours += json.load(open(os.path.join(out, name)))["benchmarks"]

def get(prefix, counter):
    """The counter of the first benchmark named prefix...: the median if
    there were repetitions, else the single run."""
    found = [b for b in ours if b["name"].startswith(prefix) and counter in b]
    for b in found:
        if b.get("aggregate_name") == "median":
            return float(b[counter])
    for b in found:
        if b.get("run_type", "iteration") == "iteration":
            return float(b[counter])
    return None

def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "ns":
        return f"{v:,.1f} ns" if v < 100 else f"{v:,.0f} ns"
    if unit == "s":
        return f"{v:.3g} s"
    if unit == "KiB":
        return f"{v:.2f} KiB"
    if unit == "/s":
        return f"{v/1e6:.2f} M/s" if v >= 1e6 else f"{v:,.0f} /s"
    if unit == "x":
        return f"{v:,.0f}x"
    if unit == "":
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    return f"{v:.3g} {unit}"

def ratio(p, o):
    if p is None or o is None or o == 0:
        return "n/a"
    return f"{p / o:.2f}"

print(f"Machine: {machine.get('nproc')} x {machine.get('cpu')}, kernel {machine.get('kernel')}; "
      f"geventpp {machine.get('commit')}; {machine.get('date')}; "
      f"load average before {machine.get('load_before')}, after {machine.get('load_after')}")
print()

# 1. Side by side with the peers.
rows = [
    ("yield", "ns", "sleep(0) ping-pong, per yield",
     get("BM_Yield/epoll", "ns_per_op"), get("BM_Yield/sim", "ns_per_op")),
    ("spawn_join", "ns", "spawn + get of a greenlet returning at once",
     get("BM_SpawnJoin/epoll", "ns_per_op"), get("BM_SpawnJoin/sim", "ns_per_op")),
    ("sleepers", "s", "100k greenlets sleeping (i % 100) ms, joined (cold run)",
     get("BM_Sleepers/epoll", "cold_s"), get("BM_Sleepers/sim", "cold_s")),
    ("sleepers_mem", "KiB", "VmHWM delta per greenlet in that run",
     get("BM_Sleepers/epoll", "cold_hwm_kib_per_greenlet"),
     get("BM_Sleepers/sim", "cold_hwm_kib_per_greenlet")),
    ("event_pingpong", "ns", "Event set/wait/clear each way, per round trip",
     get("BM_EventPingPong/epoll", "ns_per_op"), get("BM_EventPingPong/sim", "ns_per_op")),
]
print("| bench | geventpp epoll | geventpp sim | gevent | Go | Boost.Fiber | gevent / ours | Go / ours | Boost.Fiber / ours |")
print("|---|---|---|---|---|---|---|---|---|")
for bench, unit, what, epoll, sim in rows:
    g, go, bf = (peers.get((p, bench)) for p in ("gevent", "go", "boost_fiber"))
    print(f"| {bench} | {fmt(epoll, unit)} | {fmt(sim, unit)} | {fmt(g, unit)} | {fmt(go, unit)} | "
          f"{fmt(bf, unit)} | {ratio(g, epoll)} | {ratio(go, epoll)} | {ratio(bf, epoll)} |")
print()
print("Ratios are peer / geventpp epoll: above 1, geventpp is faster (or smaller).")
print()

# 2. Every geventpp figure against its target.
y_epoll = get("BM_Yield/epoll", "ns_per_op")
y_sim = get("BM_Yield/sim", "ns_per_op")
sim_ratio = y_sim / y_epoll if y_epoll and y_sim else None
hour = "BM_SimVirtualHour/greenlets:10000/seconds:3600"

def check(v, target, op):
    if v is None or target is None:
        return ""
    ok = v <= target if op == "<=" else (v < target if op == "<" else v >= target)
    return "met" if ok else "missed"

cpu_sim_yield = get("BM_Yield/sim", "cpu_ns_per_op")
targets = [
    # what, wall value, thread-CPU value, unit, target, comparison
    ("yield, epoll (ns per yield)", y_epoll, get("BM_Yield/epoll", "cpu_ns_per_op"), "ns", 40, "<="),
    ("yield, sim / epoll", sim_ratio, None, "x1", 1.5, "<="),
    ("spawn + get, epoll", get("BM_SpawnJoin/epoll", "ns_per_op"), get("BM_SpawnJoin/epoll", "cpu_ns_per_op"), "ns", 300, "<="),
    ("spawn + get, sim", get("BM_SpawnJoin/sim", "ns_per_op"), get("BM_SpawnJoin/sim", "cpu_ns_per_op"), "ns", 300, "<="),
    ("100k sleepers, epoll, cold", get("BM_Sleepers/epoll", "cold_s"), get("BM_Sleepers/epoll", "cold_cpu_s"), "s", 0.2, "<="),
    ("100k sleepers, epoll, warm (2nd run)", get("BM_Sleepers/epoll", "warm_s"), get("BM_Sleepers/epoll", "warm_cpu_s"), "s", 0.2, "<="),
    ("100k sleepers, epoll, steady (4th run)", get("BM_Sleepers/epoll", "steady_s"), get("BM_Sleepers/epoll", "steady_cpu_s"), "s", 0.2, "<="),
    ("100k sleepers, sim, cold", get("BM_Sleepers/sim", "cold_s"), get("BM_Sleepers/sim", "cold_cpu_s"), "s", 0.2, "<="),
    ("100k sleepers, sim, warm (2nd run)", get("BM_Sleepers/sim", "warm_s"), get("BM_Sleepers/sim", "warm_cpu_s"), "s", 0.2, "<="),
    ("100k sleepers, sim, steady (4th run)", get("BM_Sleepers/sim", "steady_s"), get("BM_Sleepers/sim", "steady_cpu_s"), "s", 0.2, "<="),
    ("sim: 10k greenlets x 1 virtual hour", get(hour, "wall_s"), get(hour, "cpu_s"), "s", 3.6, "<"),
    ("sim: sleep(0) switches per second", 1e9 / y_sim if y_sim else None,
     1e9 / cpu_sim_yield if cpu_sim_yield else None, "/s", 10e6, ">="),
    ("Event ping-pong, epoll (round trip)", get("BM_EventPingPong/epoll", "ns_per_op"), get("BM_EventPingPong/epoll", "cpu_ns_per_op"), "ns", 100, "<="),
    ("Event ping-pong, sim (round trip)", get("BM_EventPingPong/sim", "ns_per_op"), get("BM_EventPingPong/sim", "cpu_ns_per_op"), "ns", 100, "<="),
    ("Queue ping-pong, epoll (per item)", get("BM_QueuePingPong/epoll", "ns_per_op"), get("BM_QueuePingPong/epoll", "cpu_ns_per_op"), "ns", 150, "<="),
    ("Queue ping-pong, sim (per item)", get("BM_QueuePingPong/sim", "ns_per_op"), get("BM_QueuePingPong/sim", "cpu_ns_per_op"), "ns", 150, "<="),
    ("Semaphore hand-off to a waiter, epoll", get("BM_SemaphoreHandoff/epoll", "ns_per_op"), get("BM_SemaphoreHandoff/epoll", "cpu_ns_per_op"), "ns", 150, "<="),
    ("Semaphore hand-off to a waiter, sim", get("BM_SemaphoreHandoff/sim", "ns_per_op"), get("BM_SemaphoreHandoff/sim", "cpu_ns_per_op"), "ns", 150, "<="),
    ("sim: fresh simulations per second", get("BM_SimFresh", "runs_per_s"),
     1e9 / get("BM_SimFresh", "cpu_ns_per_op") if get("BM_SimFresh", "cpu_ns_per_op") else None,
     "/s", 10000, ">="),
]
print("| figure | geventpp (wall) | thread CPU time | target | |")
print("|---|---|---|---|---|")
for what, v, cpu, unit, target, op in targets:
    shown = f"{v:.2f}x" if unit == "x1" and v is not None else fmt(v, unit)
    cshown = "" if cpu is None else fmt(cpu, unit)
    tshown = f"{target}x" if unit == "x1" else fmt(target, unit)
    print(f"| {what} | {shown} | {cshown} | {op} {tshown} | {check(v, target, op)} |")
print()
print("Met/missed is judged on the wall figure. Thread CPU time (user + kernel,"
      " page faults included) is shown because the machine may be shared: when"
      " it is much lower than the wall figure, the run was disturbed.")
print()

# 3. The rest: breakdowns without targets.
def line(what, v, unit):
    print(f"| {what} | {fmt(v, unit)} |")

print("| detail | geventpp |")
print("|---|---|")
line("Event round trip, epoll: thread CPU time", get("BM_EventPingPong/epoll", "cpu_ns_per_op"), "ns")
line("Timeout start + cancel, epoll", get("BM_TimeoutStartCancel/epoll/pending:0", "ns_per_op"), "ns")
line("Timeout start + cancel, epoll, 10k timers pending", get("BM_TimeoutStartCancel/epoll/pending:10000", "ns_per_op"), "ns")
line("Timeout start + cancel, sim", get("BM_TimeoutStartCancel/sim/pending:0", "ns_per_op"), "ns")
line("Timeout start + cancel, sim, 10k timers pending", get("BM_TimeoutStartCancel/sim/pending:10000", "ns_per_op"), "ns")
line("Event round trip, sim", get("BM_EventPingPong/sim", "ns_per_op"), "ns")
line("context switch: internal::Jump", get("BM_ContextJump", "ns_per_op"), "ns")
line("context switch: bare Boost jump_fcontext", get("BM_ContextRawFcontext", "ns_per_op"), "ns")
line("stack: StackPool Acquire + Release", get("BM_StackPoolAcquireRelease", "ns_per_op"), "ns")
line("stack: fresh mmap + mprotect + munmap", get("BM_StackFreshMmap/touch:0", "ns_per_op"), "ns")
line("stack: the same, touching its top page", get("BM_StackFreshMmap/touch:1", "ns_per_op"), "ns")
line("stack: trim (touch top page + MADV_DONTNEED)", get("BM_StackTrimMadvise", "ns_per_op"), "ns")
line("one first-touch page fault", (get("BM_PageFault", "us_per_page") or 0) * 1e3 or None, "ns")
for backend in ("epoll", "sim"):
    p = f"BM_Sleepers/{backend}"
    line(f"sleepers {backend}: cold run, page faults", get(p, "cold_faults"), "")
    line(f"sleepers {backend}: cold run, est. time in page faults", get(p, "cold_fault_s_est"), "s")
    line(f"sleepers {backend}: warm run, page faults", get(p, "warm_faults"), "")
    line(f"sleepers {backend}: warm run, est. time in page faults", get(p, "warm_fault_s_est"), "s")
    line(f"sleepers {backend}: steady (4th) run, page faults", get(p, "steady_faults"), "")
    line(f"sleepers {backend}: RSS at peak per greenlet (cold)", get(p, "cold_rss_kib_per_greenlet"), "KiB")
    r = f"BM_Resident/{backend}"
    line(f"100k blocked at once, {backend}: RSS per greenlet", get(r, "rss_kib_per_greenlet"), "KiB")
    line(f"100k blocked at once, {backend}: page faults per greenlet", get(r, "faults_per_greenlet"), "")
    line(f"100k blocked at once, {backend}: spawn + start all", get(r, "start_s"), "s")
for n, secs in ((10000, 3600), (10000, 60), (1000, 600), (100, 3600)):
    p = f"BM_SimVirtualHour/greenlets:{n}/seconds:{secs}"
    line(f"sim {n} greenlets x {secs} virtual s: wall", get(p, "wall_s"), "s")
    line(f"sim {n} greenlets x {secs} virtual s: per wake-up", get(p, "ns_per_wakeup"), "ns")
    line(f"sim {n} greenlets x {secs} virtual s: speedup", get(p, "speedup"), "x")
line("sim 10k x 1 h: setup (spawn + first start)", get(hour, "setup_s"), "s")
line("sim 10k x 1 h: teardown (killall + destroy)", get(hour, "teardown_s"), "s")
line("fresh simulation: wall per run", get("BM_SimFresh", "ns_per_op"), "ns")
line("fresh simulation: page faults per run", get("BM_SimFresh", "faults_per_run"), "")
