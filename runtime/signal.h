// Handling POSIX signals in greenlets (gevent.signal_handler).
//
//   gevent::Event shutdown;
//   auto handler = gevent::signal_handler(SIGTERM, [&] { shutdown.set(); });
//   shutdown.wait();
//   handler->cancel();
//
// Each delivery runs `handler` in a new greenlet. The signal is blocked in
// the calling thread and read through a signalfd, so the handler is ordinary
// greenlet code (it may block, use locks, ...). A handler does not keep the
// hub's loop alive. An exception that escapes it is raised in the main
// greenlet, at its blocking point. Block the signal in every thread (do this
// before starting threads) so the kernel does not deliver it elsewhere.
#ifndef GEVENTPP_RUNTIME_SIGNAL_H_
#define GEVENTPP_RUNTIME_SIGNAL_H_

#include <functional>
#include <memory>

#include "runtime/hub.h"

namespace gevent {

class SignalHandler {
 public:
  ~SignalHandler();  // cancels
  SignalHandler(const SignalHandler&) = delete;
  SignalHandler& operator=(const SignalHandler&) = delete;
  // Stops handling the signal. Idempotent.
  void cancel();
  int signum() const { return watcher_.signum(); }
  bool active() const { return watcher_.active(); }

 private:
  friend std::unique_ptr<SignalHandler> signal_handler(int, std::function<void()>);
  SignalHandler(int signum, std::function<void()> handler);
  struct Watcher : SignalWatcher {
    Watcher(int signum) : SignalWatcher(signum, &Fire) {}
    static void Fire(SignalWatcher* w);
    SignalHandler* owner = nullptr;
  };
  Watcher watcher_;
  std::function<void()> handler_;
  Hub* hub_;
};

// Handles `signum` with `handler` on the current thread's hub. Throws
// std::invalid_argument for an empty handler or a signal that cannot be
// handled (SIGKILL, SIGSTOP, out of range).
std::unique_ptr<SignalHandler> signal_handler(int signum,
                                              std::function<void()> handler);

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_SIGNAL_H_
