// What recording a trace costs (issue 5: <= 10% on the simulator's sleep(0)
// ping-pong, <= 5% on an epoll workload with timers).
//
//   bazel run -c opt //bench:trace_bench
//
// Each benchmark alternates rounds without and with a gevent::trace::Recorder
// attached to the same hub and keeps the fastest round of each, in CPU time
// (the machine may be shared), then reports both and `overhead_pct`. The
// trace goes to $TMPDIR (default /tmp).
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/internal/sink.h"
#include "traces/reader.h"
#include "traces/recorder.h"

namespace {

// CPU time of this thread: on a shared machine, time spent descheduled is
// not ours to count.
double ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double CpuNs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

std::string TracePath() {
  if (const char* path = getenv("GEVENT_TRACE_BENCH_PATH")) return path;
  const char* dir = getenv("TMPDIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") +
         "/gevent_trace_bench.gtrace";
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Report(benchmark::State& state, const char* unit, double plain, double recorded,
            double records_per_op) {
  state.counters[std::string("plain_") + unit] = plain;
  state.counters[std::string("recorded_") + unit] = recorded;
  state.counters["overhead_pct"] = (recorded / plain - 1.0) * 100.0;
  state.counters["records_per_op"] = records_per_op;
}

// The simulator's sleep(0) ping-pong: the main greenlet and a partner
// alternate. op = one yield (2 records: sleep, switch; callbacks are not
// recorded by default).
void BM_SimPingPong(benchmark::State& state) {
  constexpr int kYields = 200000;
  constexpr int kRounds = 21;
  for (auto _ : state) {
    gevent::sim::Simulation sim(0);
    bool stop = false;
    auto partner = gevent::spawn([&stop] {
      while (!stop) gevent::sleep();
    });
    gevent::sleep();
    double best_plain = 1e300, best_recorded = 1e300, records = 0;
    for (int round = 0; round < kRounds; ++round) {
      for (int recorded = 0; recorded < 2; ++recorded) {
        std::unique_ptr<gevent::trace::Recorder> rec;
        if (recorded) rec = std::make_unique<gevent::trace::Recorder>(sim.hub(), TracePath());
        const double t0 = ThreadCpuNs();
        for (int i = 0; i < kYields; ++i) gevent::sleep();
        const double ns = (ThreadCpuNs() - t0) / (2.0 * kYields);
        if (recorded) {
          records = static_cast<double>(rec->records()) / (2.0 * kYields);
          best_recorded = std::min(best_recorded, ns);
        } else {
          best_plain = std::min(best_plain, ns);
        }
      }
    }
    stop = true;
    partner->join();
    Report(state, "ns_per_yield", best_plain, best_recorded, records);
  }
}
BENCHMARK(BM_SimPingPong)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// The epoll hub with timers: `greenlets` greenlets each sleep a
// pseudo-random 0.1..2 ms (dense: many timers per loop iteration) or a
// fixed 1 ms (tickers: a few per iteration), `naps` times. Waiting costs no
// CPU, so the figure is the process CPU time per timer wake-up. op = one
// wake-up (sleep, timer start, timer fired, switch, and a time advance per
// loop iteration).
// An observer that does nothing: what the hub's event reporting alone
// costs (the epoll hub reports nothing until an observer is set).
class NullObserver : public gevent::HubObserver {
 public:
  void OnHubEvent(const gevent::HubEvent&) override {}
};

void BM_EpollTimers(benchmark::State& state) {
  const int greenlets = static_cast<int>(state.range(0));
  const bool dense = state.range(1) != 0;
  const int naps = dense ? 25 : 50;
  // Real timers make single rounds noisy: many rounds, and the median of
  // each round's recorded/plain and observed/plain ratios.
  constexpr int kRounds = 31;
  for (auto _ : state) {
    gevent::Hub* hub = gevent::get_hub();
    double best[3] = {1e300, 1e300, 1e300};
    std::vector<double> recorded_ratio, observed_ratio;
    double records = 0;
    NullObserver null;
    for (int round = 0; round < kRounds; ++round) {
      double round_ns[3] = {0, 0, 0};
      for (int mode = 0; mode < 3; ++mode) {  // plain, observed, recorded
        std::unique_ptr<gevent::trace::Recorder> rec;
        if (mode == 1) hub->set_observer(&null);
        if (mode == 2) {
          rec = std::make_unique<gevent::trace::Recorder>(hub, TracePath());
          // Starting a recording (the file, the header's write) is not
          // what is measured: let the writer thread finish it first.
          gevent::sleep(absl::Milliseconds(10));
        }
        std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
        const double c0 = CpuNs();
        for (int g = 0; g < greenlets; ++g) {
          gs.push_back(gevent::spawn([g, dense, naps] {
            std::minstd_rand rng(static_cast<unsigned>(g + 1));
            for (int i = 0; i < naps; ++i) {
              gevent::sleep(dense ? absl::Microseconds(100 + static_cast<int64_t>(rng() % 1900))
                                  : absl::Milliseconds(1));
            }
          }));
        }
        gevent::joinall(gs);
        const double ns = (CpuNs() - c0) / (greenlets * naps);
        if (mode == 1) hub->set_observer(nullptr);
        if (mode == 2) records = static_cast<double>(rec->records()) / (greenlets * naps);
        best[mode] = std::min(best[mode], ns);
        round_ns[mode] = ns;
      }
      observed_ratio.push_back(round_ns[1] / round_ns[0]);
      recorded_ratio.push_back(round_ns[2] / round_ns[0]);
    }
    Report(state, "cpu_ns_per_wakeup", best[0], best[2], records);
    state.counters["observed_cpu_ns_per_wakeup"] = best[1];
    state.counters["observing_pct"] = (Median(observed_ratio) - 1.0) * 100.0;
    state.counters["overhead_pct"] = (Median(recorded_ratio) - 1.0) * 100.0;
  }
}
BENCHMARK(BM_EpollTimers)
    ->ArgNames({"greenlets", "dense"})
    ->Args({200, 1})
    ->Args({10, 0})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A service on the epoll hub: `pairs` client/server greenlet pairs over
// Unix socket pairs exchange 64-byte requests and replies; each side waits
// for its peer with a 1 s timeout (a timer started and cancelled per wait),
// as a server with per-request deadlines does. op = one exchange (request
// and reply: two reads, two writes, two timed waits, their I/O events and
// switches). Process CPU, as above.
void BM_EpollEcho(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  constexpr int kExchanges = 500;
  constexpr int kRounds = 15;
  for (auto _ : state) {
    gevent::Hub* hub = gevent::get_hub();
    std::vector<double> ratio;
    double best[2] = {1e300, 1e300}, records = 0;
    for (int round = 0; round < kRounds; ++round) {
      double round_ns[2] = {0, 0};
      for (int mode = 0; mode < 2; ++mode) {  // plain, recorded
        std::unique_ptr<gevent::trace::Recorder> rec;
        if (mode == 1) {
          rec = std::make_unique<gevent::trace::Recorder>(hub, TracePath());
          gevent::sleep(absl::Milliseconds(10));
        }
        std::vector<int> fds(2 * pairs);
        for (int i = 0; i < pairs; ++i) {
          if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, &fds[2 * i]) != 0) {
            state.SkipWithError("socketpair failed");
            return;
          }
        }
        // Both sides read a whole message or fail the benchmark.
        auto exchange = [](int fd, bool client, int* failures) {
          char buf[64] = {};
          for (int i = 0; i < kExchanges; ++i) {
            for (int step = 0; step < 2; ++step) {
              if ((step == 0) == client) {
                if (write(fd, buf, sizeof buf) != sizeof buf) ++*failures;
              } else {
                if (!gevent::wait_read(fd, absl::Seconds(1)) ||
                    read(fd, buf, sizeof buf) != sizeof buf) {
                  ++*failures;
                }
              }
            }
          }
        };
        int failures = 0;
        std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
        const double c0 = CpuNs();
        for (int i = 0; i < pairs; ++i) {
          gs.push_back(gevent::spawn([&, i] { exchange(fds[2 * i], true, &failures); }));
          gs.push_back(gevent::spawn([&, i] { exchange(fds[2 * i + 1], false, &failures); }));
        }
        gevent::joinall(gs);
        const double ns = (CpuNs() - c0) / (pairs * kExchanges);
        for (int fd : fds) close(fd);
        if (failures != 0) {
          state.SkipWithError("an exchange failed");
          return;
        }
        if (mode == 1) records = static_cast<double>(rec->records()) / (pairs * kExchanges);
        best[mode] = std::min(best[mode], ns);
        round_ns[mode] = ns;
      }
      ratio.push_back(round_ns[1] / round_ns[0]);
    }
    Report(state, "cpu_ns_per_exchange", best[0], best[1], records);
    state.counters["overhead_pct"] = (Median(ratio) - 1.0) * 100.0;
  }
}
BENCHMARK(BM_EpollEcho)
    ->ArgNames({"pairs"})
    ->Arg(1)
    ->Arg(20)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The recorder alone: one Switch record per call, as the hub would report
// it (no hub work). op = one record.
void BM_RecordSwitch(benchmark::State& state) {
  gevent::sim::Simulation sim(0);
  gevent::trace::Recorder rec(sim.hub(), TracePath());
  gevent::HubEvent e{gevent::HubEventKind::kSwitch,
                     absl::ToUnixNanos(sim.hub()->loop_time()), 1};
  for (auto _ : state) {
    e.greenlet = (e.greenlet & 7) + 1;
    rec.OnHubEvent(e);
  }
  state.counters["bytes_per_record"] =
      static_cast<double>(rec.bytes()) / static_cast<double>(rec.records());
}
BENCHMARK(BM_RecordSwitch);

// The recorder alone, on the event mix of a recorded epoll timer workload
// (times changing, timer numbers, spawns and finishes). op = one record.
void BM_RecordEpollMix(benchmark::State& state) {
  const std::string source = TracePath() + ".mix";
  {
    auto hub = gevent::make_hub("epoll");
    gevent::Hub* h = hub.get();
    auto previous = gevent::exchange_hub(std::move(hub));
    {
      gevent::trace::Recorder rec(h, source);
      std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
      for (int g = 0; g < 50; ++g) {
        gs.push_back(gevent::spawn([g] {
          for (int i = 0; i < 10; ++i) gevent::sleep(absl::Microseconds(100 + 37 * ((g * 7 + i) % 40)));
        }));
      }
      gevent::joinall(gs);
    }
    h->destroy();
    gevent::exchange_hub(std::move(previous));
  }
  gevent::trace::TraceReader reader;
  if (!reader.Open(source)) {
    state.SkipWithError(reader.error().c_str());
    return;
  }
  std::vector<gevent::trace::Event> events;
  gevent::trace::Event e;
  while (reader.Next(&e)) events.push_back(e);
  gevent::sim::Simulation sim(0);
  gevent::trace::Recorder rec(sim.hub(), TracePath());
  int64_t base = absl::ToUnixNanos(sim.hub()->loop_time());
  size_t i = 0;
  for (auto _ : state) {
    const gevent::trace::Event& x = events[i];
    gevent::HubEvent h{x.kind, base + x.time_ns, x.greenlet, x.a, x.b, x.c};
    rec.OnHubEvent(h);
    if (++i == events.size()) {
      i = 0;
      base += events.back().time_ns + 1;
    }
  }
  state.counters["bytes_per_record"] =
      static_cast<double>(rec.bytes()) / static_cast<double>(rec.records());
}
BENCHMARK(BM_RecordEpollMix);

// One flush of a quiet program: `bytes` pending, then 3 ms without records
// (the writer thread, if it was used, finishes and goes back to sleep).
// state.range(1): 0, handed to the writer thread; 1, written on this thread
// (what an epoll loop about to wait does, FileSink::FlushInWait).
// Reports the CPU time per flush of this thread and of the others.
void BM_QuietFlush(benchmark::State& state) {
  const auto bytes = static_cast<size_t>(state.range(0));
  const bool here = state.range(1) != 0;
  gevent::trace::internal::FileSink sink;
  std::string error;
  if (!sink.Open(TracePath(), &error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  double this_thread = 0, all = 0;
  for (auto _ : state) {
    uint8_t* p = sink.Reserve(bytes);
    memset(p, 0x5a, bytes);
    sink.Commit(p + bytes);
    const double t0 = ThreadCpuNs(), c0 = CpuNs();
    // Old enough to flush.
    const int64_t now = std::numeric_limits<int64_t>::max() / 2;
    if (here) {
      sink.FlushInWait();
    } else {
      sink.MaybeFlush(now);
    }
    this_thread += ThreadCpuNs() - t0;
    usleep(3000);
    all += (CpuNs() - c0) - (ThreadCpuNs() - t0);  // the others' share
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["this_thread_us"] = this_thread / n / 1000;
  state.counters["other_threads_us"] = all / n / 1000;
  state.counters["total_us"] = (this_thread + all) / n / 1000;
  sink.Close(&error);
}
BENCHMARK(BM_QuietFlush)
    ->ArgNames({"bytes", "here"})
    ->Args({4096, 0})->Args({4096, 1})
    ->Args({16384, 0})->Args({16384, 1})
    ->Args({65536, 0})->Args({65536, 1})
    ->Iterations(200)->UseRealTime();

}  // namespace
