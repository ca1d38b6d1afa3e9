// Peer benchmark: Boost.Fiber (default round_robin scheduler, default
// fixedsize_stack allocator, single thread).
//
// Build: g++ -O2 -std=c++17 boost_fiber_bench.cc -lboost_fiber -lboost_context -pthread
// Prints lines: peer=boost_fiber bench=<name> value=<number> unit=<ns|s|KiB>
//
// Each micro-benchmark does one untimed warm-up pass, then kReps timed
// passes, and reports the median.
#include <boost/fiber/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

constexpr const char* kPeer = "boost_fiber";
constexpr int kReps = 3;
constexpr int kSleepers = 100000;
constexpr std::size_t kQueueCap = 16;  // must be a power of two >= 2

using Clock = std::chrono::steady_clock;

void Emit(const char* name, double value, const char* unit) {
  std::printf("peer=%s bench=%s value=%.6g unit=%s\n", kPeer, name, value, unit);
  std::fflush(stdout);
}

long VmHwmKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  std::fprintf(stderr, "VmHWM not found\n");
  std::exit(1);
}

double NsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

template <typename Fn>
double MedianOf(Fn fn, long n) {
  fn(std::max(1L, n / 10));  // warm-up
  std::vector<double> v;
  for (int i = 0; i < kReps; ++i) v.push_back(fn(n));
  std::sort(v.begin(), v.end());
  return v[kReps / 2];
}

// 1. yield: two fibers alternate via this_fiber::yield(); 2n yields total.
double BenchYield(long n) {
  auto worker = [n] {
    for (long i = 0; i < n; ++i) boost::this_fiber::yield();
  };
  auto t0 = Clock::now();
  boost::fibers::fiber a(worker), b(worker);
  a.join();
  b.join();
  return NsSince(t0) / (2.0 * n);
}

// 2. spawn_join: start a fiber that returns at once and join it.
double BenchSpawnJoin(long n) {
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) {
    boost::fibers::fiber f([] {});
    f.join();
  }
  return NsSince(t0) / n;
}

// 3. sleepers: kSleepers fibers each sleeping (i % 100) ms, all joined.
void BenchSleepers() {
  long before = VmHwmKiB();
  auto t0 = Clock::now();
  std::vector<boost::fibers::fiber> fs;
  fs.reserve(kSleepers);
  for (int i = 0; i < kSleepers; ++i) {
    fs.emplace_back([i] { boost::this_fiber::sleep_for(std::chrono::milliseconds(i % 100)); });
  }
  for (auto& f : fs) f.join();
  double wall = NsSince(t0) / 1e9;
  long after = VmHwmKiB();
  Emit("sleepers", wall, "s");
  Emit("sleepers_mem", double(after - before) / kSleepers, "KiB");
}

// 4. event_pingpong: one unbuffered_channel each way; ns per round trip.
double BenchEventPingpong(long n) {
  boost::fibers::unbuffered_channel<int> ping, pong;
  boost::fibers::fiber ponger([&] {
    int v;
    for (long i = 0; i < n; ++i) {
      ping.pop(v);
      pong.push(v);
    }
  });
  auto t0 = Clock::now();
  int v;
  for (long i = 0; i < n; ++i) {
    ping.push(1);
    pong.pop(v);
  }
  ponger.join();
  return NsSince(t0) / n;
}

// 5. queue_pingpong: an int goes there through buffered q1 and back through
// buffered q2; ns per round trip (two queue transfers).
double BenchQueuePingpong(long n) {
  boost::fibers::buffered_channel<long> q1(kQueueCap), q2(kQueueCap);
  boost::fibers::fiber ponger([&] {
    long v;
    for (long i = 0; i < n; ++i) {
      q1.pop(v);
      q2.push(v);
    }
  });
  auto t0 = Clock::now();
  long v;
  for (long i = 0; i < n; ++i) {
    q1.push(i);
    q2.pop(v);
  }
  ponger.join();
  return NsSince(t0) / n;
}

}  // namespace

int main() {
  // sleepers first, so the VmHWM baseline is not inflated by earlier runs.
  BenchSleepers();
  Emit("yield", MedianOf(BenchYield, 5000000), "ns");
  Emit("spawn_join", MedianOf(BenchSpawnJoin, 2000000), "ns");
  Emit("event_pingpong", MedianOf(BenchEventPingpong, 2000000), "ns");
  Emit("queue_pingpong", MedianOf(BenchQueuePingpong, 2000000), "ns");
  return 0;
}
