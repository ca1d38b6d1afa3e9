// Workloads that both the timed benchmarks (hub_bench) and the instruction
// counts (instruction_counts) run, so that both measure the same code.
// Each takes `loop`, a callable that runs its argument once per operation
// (a benchmark's `for (auto _ : state)`, or a fixed count).
#ifndef GEVENTPP_BENCH_WORKLOADS_H_
#define GEVENTPP_BENCH_WORKLOADS_H_

#include "runtime/gevent.h"

namespace gevent_bench {

// Two greenlets alternate via sleep(0): the caller and a partner that loops
// on sleep(0) until told to stop. One operation is two yields (one each).
template <typename Loop>
void YieldPairs(Loop&& loop) {
  bool stop = false;
  auto partner = gevent::spawn([&stop] {
    while (!stop) gevent::sleep();
  });
  gevent::sleep();  // let the partner start
  loop([] { gevent::sleep(); });
  stop = true;
  partner->join();
}

// gevent::Event each way: the caller sets `ping` and waits on `pong`; the
// ponger waits on `ping`, clears it and sets `pong`. One operation is one
// round trip (set/wait/clear in each direction).
template <typename Loop>
void EventRoundTrips(Loop&& loop) {
  gevent::Event ping, pong;
  bool stop = false;
  auto ponger = gevent::spawn([&] {
    for (;;) {
      ping.wait();
      ping.clear();
      if (stop) return;
      pong.set();
    }
  });
  loop([&] {
    ping.set();
    pong.wait();
    pong.clear();
  });
  stop = true;
  ping.set();
  ponger->join();
}

}  // namespace gevent_bench

#endif  // GEVENTPP_BENCH_WORKLOADS_H_
