// The backend seam: what a hub needs from the platform it runs on.
//
// A Hub is the loop and everything every backend shares (callbacks, timers,
// watchers, switching, the hand-off). It owns one HubBackend, which supplies
// only what differs: the clock, the wait for events, the cross-thread
// wake-up, the kernel interest in descriptors, and renewal after fork. The
// production backend is epoll (runtime/internal/epoll_backend.h); the
// simulator's is a virtual clock (sim/sim_backend.h). The orders a backend
// leaves open are decided by a separate SchedulingPolicy
// (scheduling_policy.h), so one can be changed without the other.
//
// All calls come from the hub's own thread, except Wakeup().
#ifndef GEVENTPP_RUNTIME_HUB_BACKEND_H_
#define GEVENTPP_RUNTIME_HUB_BACKEND_H_

#include <cstdint>
#include <vector>

namespace gevent {

class Hub;
class NetworkBackend;

class HubBackend {
 public:
  // A descriptor the wait found ready (IoWatcher::kRead / kWrite bits).
  struct IoEvent {
    int fd;
    uint32_t revents;
  };

  virtual ~HubBackend() = default;
  // Called once by the hub that owns this backend, from its constructor.
  virtual void Attach(Hub* hub) { (void)hub; }
  // A short name: "epoll" or "sim" (Hub::backend_name()).
  virtual const char* name() const = 0;
  // The clock, in nanoseconds (runtime/nanos.h: kNanosPast and
  // kNanosFuture are the ends of time).
  virtual int64_t NowNs() = 0;
  // Waits for I/O or a wake-up, at most until `deadline_ns` (kNanosPast: do
  // not block; kNanosFuture: no limit), and appends ready descriptors.
  virtual void WaitForEvents(int64_t deadline_ns, std::vector<IoEvent>* ready) = 0;
  // From any thread: makes a wait in progress (or the next one) return.
  virtual void Wakeup() = 0;
  // The interest in `fd` changed from `old_mask` to `new_mask`
  // (IoWatcher::kRead | kWrite; 0: none). Throws for a descriptor that
  // cannot be watched.
  virtual void UpdateInterest(int fd, uint32_t old_mask, uint32_t new_mask) = 0;
  // Renews kernel objects in a forked child.
  virtual void Reinit() {}
  // The network sockets use (socket_transport.h), or nullptr: none.
  virtual NetworkBackend* network() { return nullptr; }
  // How far the clock of simulated host `host` is off (clock.h), in ns.
  virtual int64_t ClockSkewNs(uint32_t host) const {
    (void)host;
    return 0;
  }
  // Whether the buggify() point (buggify.h) at `file`:`line` fires now.
  // Asked only while the hub's scheduling policy perturbs.
  virtual bool Buggify(const char* file, int line) {
    (void)file;
    (void)line;
    return false;
  }
  // Called by Hub::destroy() once every greenlet is gone, while the hub
  // still works: the backend lets go of what it holds for the hub's
  // watchers (open sockets left over are orphaned: later calls on them fail
  // with EBADF).
  virtual void OnHubDestroyed() {}
  // Starts (or stops) waking the loop when the hub's own descriptor `fd`
  // (its signalfd) is readable; the hub reads it itself after each wait.
  virtual void WatchInternalFd(int fd, bool watch) {
    (void)fd;
    (void)watch;
  }
  // Checked every 256 callbacks of one pass of the callback FIFO: true ends
  // the pass so timers and I/O get their turn. The default reads the clock
  // into `*loop_time_ns` (the hub's cached time) and ends the pass once
  // `interval_ns` (the switch interval) has passed since `pass_start_ns`.
  virtual bool CallbackPassOver(int64_t pass_start_ns, uint64_t callbacks_run,
                                int64_t interval_ns, int64_t* loop_time_ns) {
    (void)callbacks_run;
    *loop_time_ns = NowNs();
    return *loop_time_ns - pass_start_ns >= interval_ns;
  }
  // Only while extends_io_batches() (a replay): asked by the loop's I/O
  // phase when it has dispatched what the wait found, or found nothing, for
  // descriptors that are ready in the same batch (appended to `ready`).
  // Events are then handed out one at a time, so that a replayed batch is
  // the recorded one, however the greenlets they wake behave.
  virtual bool MoreIoEvents(std::vector<IoEvent>* ready) {
    (void)ready;
    return false;
  }
  bool extends_io_batches() const { return extends_io_batches_; }

  // A virtual clock must not move past work on other threads that the hub
  // is referenced for (Hub::ref()): with defers_foreign_work(), the loop
  // takes cross-thread callbacks only when it has nothing left to run at
  // the current time, and while references are held and nothing has
  // arrived, it calls AwaitForeignWork() (which returns after Wakeup())
  // instead of moving the clock. Real clocks need neither.
  bool defers_foreign_work() const { return defers_foreign_work_; }
  virtual void AwaitForeignWork() {}

  // A replay of an epoll trace decides where work from other threads is
  // taken, as the recorded loop took it (kForeignWork events, one per
  // callback, with its tag: Hub::run_callback_threadsafe). Only on a hub
  // that replays it (SimHub::set_foreign_source): at the top of each loop
  // iteration the hub asks ForeignWorkDue(), again after each callback it
  // takes: -1, the backend's own rule (defers_foreign_work()); 0, none
  // (more) here; n > 0, take the callback tagged n - 1 here (n = 1: an
  // untagged one, the first to come), waiting in real time for it.
  // AwaitForeignWorkFor waits up to `ns` for a Wakeup() and says whether
  // one came. A tagged callback whose work is not out cannot come: the hub
  // calls ForeignWorkMissing(tag, INT64_MAX). An untagged one, while
  // nothing the hub is referenced for is out, is asked about after each
  // fruitless wait (`waited_ns` in all so far). True: give up (the backend
  // reported it), after which its own rule applies (ForeignWorkDue
  // returns -1).
  virtual int64_t ForeignWorkDue() { return -1; }
  virtual bool AwaitForeignWorkFor(int64_t ns) {
    (void)ns;
    return false;
  }
  virtual bool ForeignWorkMissing(uint64_t tag, int64_t waited_ns) {
    (void)tag;
    (void)waited_ns;
    return true;
  }

 protected:
  bool extends_io_batches_ = false;
  bool defers_foreign_work_ = false;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_HUB_BACKEND_H_
