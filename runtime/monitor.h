// BlockingMonitor: report when one greenlet keeps the hub from running.
//
//   gevent::BlockingMonitor monitor(absl::Milliseconds(100));
//
// A background thread samples the hub's switch counter. If the hub has
// neither switched nor waited for events for longer than `threshold`, the
// greenlet that is running is blocking every other one (a CPU loop, a
// blocking system call): once per such stretch, the monitor prints on stderr
// example: skip (output)
//   geventpp: greenlet 'NAME' has held the hub for N ms without switching
//   (threshold T ms)
// and calls `callback` (on the monitor thread). Like gevent's
// monitor thread and Seastar's stall detector. It measures real time and
// never influences scheduling, so it may watch a simulated hub too.
#ifndef GEVENTPP_RUNTIME_MONITOR_H_
#define GEVENTPP_RUNTIME_MONITOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "runtime/hub.h"

namespace gevent {

struct BlockingReport {
  std::string greenlet;  // name of the greenlet that held the hub
  uint64_t greenlet_id = 0;
  absl::Duration held;   // how long it had held it when reported
};

class BlockingMonitor {
 public:
  // Watches the current thread's hub. `threshold` must be positive.
  explicit BlockingMonitor(
      absl::Duration threshold = absl::Milliseconds(100),
      std::function<void(const BlockingReport&)> callback = nullptr,
      bool print = true);
  ~BlockingMonitor();
  BlockingMonitor(const BlockingMonitor&) = delete;
  BlockingMonitor& operator=(const BlockingMonitor&) = delete;

  // Stretches reported so far.
  uint64_t reports() const { return reports_.load(); }

 private:
  void Run();

  Hub* hub_;
  absl::Duration threshold_;
  std::function<void(const BlockingReport&)> callback_;
  bool print_;
  std::atomic<uint64_t> reports_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_MONITOR_H_
