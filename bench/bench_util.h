// Small helpers shared by the geventpp benchmarks: a stopwatch, /proc
// readings (resident memory), page-fault counts and the cost of one fresh
// page on this machine.
#ifndef GEVENTPP_BENCH_BENCH_UTIL_H_
#define GEVENTPP_BENCH_BENCH_UTIL_H_

#include <sys/mman.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "benchmark/benchmark.h"

namespace gevent_bench {

// Wall time, and the CPU time of the calling thread (which a busy machine
// inflates much less: compare the two to see whether a run was disturbed).
class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()), cpu0_(ThreadCpuNanos()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_)
        .count();
  }
  double Nanos() const { return Seconds() * 1e9; }
  double CpuNanos() const { return ThreadCpuNanos() - cpu0_; }

  static double ThreadCpuNanos() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  }

 private:
  std::chrono::steady_clock::time_point t0_;
  double cpu0_;
};

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1.
inline long StatusKiB(const char* field) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long value = -1;
  const size_t n = strlen(field);
  while (fgets(line, sizeof line, f) != nullptr) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      value = strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  fclose(f);
  return value;
}

// Minor page faults of this process so far (each is a first touch of an
// anonymous page, or a re-touch after MADV_DONTNEED).
inline long MinorFaults() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_minflt;
}

// Microseconds for the first write to one fresh 4 KiB anonymous page
// (measured once per process over 4,096 pages).
inline double PageFaultMicros() {
  static const double us = [] {
    const size_t page = 4096, pages = 4096, bytes = page * pages;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return 0.0;
    char* p = static_cast<char*>(mem);
    Stopwatch w;
    for (size_t i = 0; i < pages; ++i) p[i * page] = 1;
    double t = w.Seconds();
    munmap(mem, bytes);
    return t / pages * 1e6;
  }();
  return us;
}

// ns_per_op: wall nanoseconds per operation (the figure); cpu_ns_per_op:
// the thread's CPU time per operation (close to ns_per_op on a quiet
// machine); ops_per_s: the wall rate.
inline void SetNsPerOp(benchmark::State& state, const Stopwatch& w, double ops) {
  const double nanos = w.Nanos();
  state.counters["ns_per_op"] = nanos / ops;
  state.counters["cpu_ns_per_op"] = w.CpuNanos() / ops;
  state.counters["ops_per_s"] = ops / (nanos * 1e-9);
}

}  // namespace gevent_bench

#endif  // GEVENTPP_BENCH_BENCH_UTIL_H_
