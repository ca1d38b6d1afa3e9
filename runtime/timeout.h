// Timeout: raise an exception in a greenlet if it is still blocked after a
// given time.
//
// example-prelude: gevent::Socket conn(AF_INET, gevent::SocketType::kStream);
//   gevent::Timeout t(absl::Seconds(2));
//   t.start();                 // arms it for the current greenlet
//   std::string data = conn.recv(4096);  // blocks: may throw gevent::TimeoutError
//   t.cancel();
//
// or, scoped:
//
// example-prelude: gevent::Socket conn(AF_INET, gevent::SocketType::kStream);
//   try {
//     gevent::TimeoutScope scope(absl::Seconds(2));
//     std::string data = conn.recv(4096);
//   } catch (const gevent::TimeoutError& e) {
//     // expired (the scope cancelled it on the way out)
//   }
//
// Telling your own timeout from an outer one:
//
// example-prelude: gevent::Socket conn(AF_INET, gevent::SocketType::kStream);
//   gevent::Timeout mine(absl::Seconds(2));
//   mine.start();
//   try {
//     std::string data = conn.recv(4096);
//   } catch (const gevent::TimeoutError& e) {
//     if (!e.is(mine)) throw;   // "not my timeout": let outer ones pass
//   }
//   mine.cancel();
//
// A Timeout fires into the greenlet that started it, at its blocking point,
// and only there: code that does not block cannot be interrupted. An
// infinite Timeout never fires. TimeoutError is not a std::exception (as in
// gevent, where Timeout is a BaseException), so a catch-all for errors does
// not swallow it by accident.
#ifndef GEVENTPP_RUNTIME_TIMEOUT_H_
#define GEVENTPP_RUNTIME_TIMEOUT_H_

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/time/time.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

class Timeout;

// What an expired Timeout raises (unless it was given another exception).
class TimeoutError : public BaseException {
 public:
  TimeoutError(absl::Duration seconds, uint64_t timeout_id);
  // The duration of the Timeout that expired.
  absl::Duration seconds() const { return seconds_; }
  // True if `t` raised this error. Use it to let other timeouts pass.
  bool is(const Timeout& t) const;
  // "<seconds> seconds", like gevent's str(Timeout).
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  absl::Duration seconds_;
  uint64_t timeout_id_;
  std::string message_;
};

class Timeout {
 public:
  // A timeout that raises TimeoutError. Negative durations count as zero;
  // absl::InfiniteDuration() never fires.
  explicit Timeout(absl::Duration seconds = absl::InfiniteDuration());
  // A timeout that raises `exception` (an exception_ptr, or any value that
  // can be thrown) instead.
  Timeout(absl::Duration seconds, std::exception_ptr exception);
  template <typename E,
            typename = std::enable_if_t<
                !std::is_same_v<std::decay_t<E>, std::exception_ptr> &&
                !std::is_same_v<std::decay_t<E>, std::nullptr_t> &&
                !internal::kReadsAsAnOption<E>>>
  Timeout(absl::Duration seconds, E exception)
      : Timeout(seconds, std::make_exception_ptr(std::move(exception))) {}
  // Timeout(d, false) (gevent's silent Timeout(s, False)) and other bools,
  // numbers and durations do not compile: use with_silent_timeout(d, body)
  // for a silent timeout; an exception must be an exception.
  template <typename E, std::enable_if_t<internal::kReadsAsAnOption<E>, int> = 0>
  Timeout(absl::Duration seconds, E not_an_exception) = delete;
  ~Timeout();
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

  // Arms the timeout for the current greenlet. Throws std::logic_error if it
  // is already pending (cancel it first to restart it).
  void start();
  // Makes and starts a Timeout in one step.
  static std::unique_ptr<Timeout> start_new(
      absl::Duration seconds, std::exception_ptr exception = nullptr);
  template <typename E, typename = std::enable_if_t<
                            !std::is_same_v<std::decay_t<E>, std::exception_ptr> &&
                            !std::is_same_v<std::decay_t<E>, std::nullptr_t> &&
                            !internal::kReadsAsAnOption<E>>>
  static std::unique_ptr<Timeout> start_new(absl::Duration seconds, E exception) {
    return start_new(seconds, std::make_exception_ptr(std::move(exception)));
  }
  // gevent's Timeout.start_new(timeout) with a Timeout: starts it if it is
  // not pending, and returns it.
  static Timeout& start_new(Timeout& existing) {
    if (!existing.pending()) existing.start();
    return existing;
  }
  // Disarms it. Safe to call at any time, any number of times.
  void cancel();
  // cancel(), and release the greenlet it was started for.
  void close();
  // True while armed and not yet fired.
  bool pending() const;

  absl::Duration seconds() const { return seconds_; }
  uint64_t id() const { return id_; }

 private:
  struct FireTimer : Timer {
    FireTimer() : Timer(&Fire) {}
    static void Fire(Timer* t);
    Timeout* owner = nullptr;
  };

  absl::Duration seconds_;
  std::exception_ptr exception_;
  uint64_t id_;
  FireTimer timer_;
  std::shared_ptr<RawGreenlet> greenlet_;
};

// Starts a Timeout when constructed and cancels it when destroyed.
class TimeoutScope {
 public:
  explicit TimeoutScope(absl::Duration seconds) : timeout_(seconds) {
    timeout_.start();
  }
  template <typename E, typename = std::enable_if_t<!internal::kReadsAsAnOption<E>>>
  TimeoutScope(absl::Duration seconds, E exception)
      : timeout_(seconds, std::move(exception)) {
    timeout_.start();
  }
  // TimeoutScope(d, false) does not compile either (see Timeout).
  template <typename E, std::enable_if_t<internal::kReadsAsAnOption<E>, int> = 0>
  TimeoutScope(absl::Duration seconds, E not_an_exception) = delete;
  const Timeout& timeout() const { return timeout_; }
  Timeout& timeout() { return timeout_; }

 private:
  Timeout timeout_;
};

// gevent's `with Timeout(seconds, False):` -- runs `body()`; if this timeout
// expires first, the body is interrupted and the call returns false; it
// returns true if the body finished. Other timeouts pass through.
template <typename F>
bool with_silent_timeout(absl::Duration seconds, F&& body) {
  Timeout t(seconds);
  t.start();
  try {
    std::forward<F>(body)();
  } catch (const TimeoutError& e) {
    if (e.is(t)) return false;
    throw;
  }
  return true;
}

// The value with_timeout returns when the timeout expires.
template <typename V>
struct TimeoutValue {
  V value;
};
template <typename V>
TimeoutValue<std::decay_t<V>> timeout_value(V&& v) {
  return {std::forward<V>(v)};
}

// Calls `f(args...)` with a timeout; throws TimeoutError if it expires.
template <typename F, typename... Args>
auto with_timeout(absl::Duration seconds, F&& f, Args&&... args)
    -> std::invoke_result_t<F, Args...> {
  Timeout t(seconds);
  t.start();
  return std::invoke(std::forward<F>(f), std::forward<Args>(args)...);
}

// Calls `f(args...)` with a timeout; returns `fallback.value` if it expires.
template <typename V, typename F, typename... Args>
auto with_timeout(absl::Duration seconds, TimeoutValue<V> fallback, F&& f,
                  Args&&... args) -> std::invoke_result_t<F, Args...> {
  Timeout t(seconds);
  t.start();
  try {
    return std::invoke(std::forward<F>(f), std::forward<Args>(args)...);
  } catch (const TimeoutError& e) {
    if (!e.is(t)) throw;
    return std::move(fallback.value);
  }
}

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_TIMEOUT_H_
