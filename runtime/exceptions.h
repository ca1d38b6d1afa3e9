// The exceptions that geventpp itself raises.
//
// GreenletExit and TimeoutError deliberately do NOT derive from
// std::exception, as in gevent (where they derive from BaseException): a
// `catch (const std::exception&)` in user code cannot swallow a kill or a
// timeout by accident. Code that uses `catch (...)` must rethrow them:
//
// example-prelude: void work(); void cleanup();
//   try { work(); } catch (...) { cleanup(); throw; }
#ifndef GEVENTPP_RUNTIME_EXCEPTIONS_H_
#define GEVENTPP_RUNTIME_EXCEPTIONS_H_

#include <stdexcept>
#include <type_traits>
#include <string>

#include "absl/time/time.h"

namespace gevent {

namespace internal {
// Values that read as an option, not as an exception: a bool, a number, a
// duration or a time. Where an exception is expected (Timeout(d, E),
// kill(E)) they are refused at compile time: Timeout(d, false) means
// gevent's silent timeout (with_silent_timeout), and kill(d) means
// kill(true, d), never "throw this Duration".
template <typename E>
inline constexpr bool kReadsAsAnOption =
    std::is_arithmetic_v<std::decay_t<E>> || std::is_same_v<std::decay_t<E>, absl::Duration> ||
    std::is_same_v<std::decay_t<E>, absl::Time>;
}  // namespace internal

// The common base of the exceptions that are not errors but control flow
// (GreenletExit, TimeoutError), like Python's BaseException. Catch it to
// catch both.
class BaseException {
 public:
  virtual ~BaseException() = default;
  virtual const char* what() const noexcept = 0;
};

// Raised inside a greenlet by kill(). A greenlet that ends with GreenletExit
// counts as successful; killed() is true and get() does not throw.
class GreenletExit : public BaseException {
 public:
  GreenletExit() = default;
  explicit GreenletExit(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override {
    return message_.empty() ? "GreenletExit" : message_.c_str();
  }

 private:
  std::string message_;
};

// Raised in the main greenlet when it blocks and the hub has no referenced
// work left that could ever wake it: "This operation would block forever".
// The message names what was being waited on.
class LoopExit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised when a blocking call (sleep, wait, join, ...) is made from inside a
// hub callback, where blocking would deadlock the hub.
class BlockingSwitchOutError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// A bad GEVENT_* environment value (GEVENT_HUB, GEVENT_SEED, GEVENT_REPLAY,
// GEVENT_TRACE_CALLBACKS): the message names the variable and the value.
// Code may catch it; left uncaught, it ends the program with that one line
// on stderr and exit status 2 (no core dump).
class ConfigurationError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Raised when a greenlet is started on a hub that has been destroyed, or
// when a thread blocks after its hub was destroyed. InvalidThreadUseError
// (below) is one.
class HubError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Raised when an object bound to one hub (a primitive, a greenlet) is used
// from another hub: from a greenlet of another hub on the same thread (a
// Simulation's hub, say), or from another thread (gevent's
// InvalidThreadUseError). The message names the object, the operation, the
// object's hub and thread and the caller's, e.g. "this Queue (Queue.get)
// belongs to hub 3 (thread 4101), used from hub 5 (thread 4101)".
// docs/api.md lists, for every primitive, what may be called from another
// thread (a hand-off to the object's hub) and what is refused.
class InvalidThreadUseError : public HubError {
 public:
  using HubError::HubError;
};

// Raised by Greenlet<T>::get() for a non-void T when the greenlet was killed
// with GreenletExit: it finished successfully but has no T to return.
class NoValueError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Raised when a second greenlet waits on an object that allows one waiter at
// a time: a socket already being read (or written) by another greenlet.
class ConcurrentObjectUseError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_EXCEPTIONS_H_
