// Event: a flag that greenlets can wait for.
//
//   gevent::Event ready;
//   gevent::spawn([&] { ready.wait(); /* go */ });
//   ready.set();   // every waiter wakes, in the order it started waiting
//
// set() wakes every greenlet that was waiting at that moment, even if the
// flag is cleared again before they get to run (they still see wait()
// return true). Waiters run in the hub's next callback pass, not inside
// set(). An Event belongs to the hub of the thread that made it; set() may
// be called from any thread (or another hub), and sets the flag and wakes
// the waiters in the Event's own hub, soon (the Event must outlive that
// hand-over). wait() and clear() from another hub or thread throw
// InvalidThreadUseError; is_set() there reads a snapshot.
#ifndef GEVENTPP_RUNTIME_EVENT_H_
#define GEVENTPP_RUNTIME_EVENT_H_

#include <cstddef>

#include <string>

#include "absl/time/time.h"
#include "runtime/internal/wait_name.h"
#include "runtime/waitable.h"

namespace gevent {

class Event : public Waitable {
 public:
  Event();

  // Sets the flag and wakes every waiter.
  void set();
  // Resets the flag; later wait() calls block until the next set().
  void clear();
  bool is_set() const { return flag_; }
  bool ready() const override { return flag_; }

  // Blocks until the flag is set or `timeout` passed. Returns true if the
  // flag was set (or this waiter was woken by a set()), false on timeout.
  bool wait(absl::Duration timeout = absl::InfiniteDuration());

  // An optional name, for deadlock reports ("main waits for Event 'ready'").
  void set_name(std::string name) { name_.Set("Event", std::move(name)); }
  const std::string& name() const { return name_.Get(); }

 private:
  bool keep_notifying() const override;
  // wait() once the flag was found clear.
  bool Block(absl::Duration timeout);

  bool flag_ = false;
  // Links that a set() must wake even if the flag was cleared since.
  mutable size_t owed_wakeups_ = 0;
  internal::WaitName name_;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_EVENT_H_
