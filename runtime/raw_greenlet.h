// RawGreenlet: the unit the hub switches between, with its own stack.
//
// Most code wants gevent::Greenlet (greenlet.h), which adds results, links,
// join and kill. RawGreenlet is what getcurrent() returns (it may be the main
// greenlet or the hub itself) and what spawn_raw() makes: a function run on
// its own stack, with no result kept and nothing to join.
#ifndef GEVENTPP_RUNTIME_RAW_GREENLET_H_
#define GEVENTPP_RUNTIME_RAW_GREENLET_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "runtime/hub.h"
#include "runtime/internal/context.h"
#include "runtime/internal/intrusive_list.h"
#include "runtime/internal/stack_pool.h"

namespace gevent {
namespace internal {
// From the SIGSEGV handler: if the fault is an overflow of the running
// greenlet's stack (the faulting address `addr` is in its guard page or
// just below it, or the stack pointer `sp` lies below its stack: a frame
// larger than the guard page), writes its name (NUL-terminated, cut to fit)
// and its stack size, and returns true. `sp` may be nullptr (unknown).
bool CurrentGreenletGuard(const void* addr, const void* sp, char* name,
                          size_t name_size, size_t* size);
}  // namespace internal

// An object a greenlet can be blocked on that can say, for a deadlock
// report, what it is and which greenlet holds it (a lock).
class BlockingObject {
 public:
  // E.g. "Lock 'accounts'" or "Semaphore".
  virtual std::string describe() const = 0;
  // The greenlet holding it, or nullptr (not held, or not a lock).
  virtual const RawGreenlet* holder() const = 0;

 protected:
  ~BlockingObject() = default;
};

class RawGreenlet : public std::enable_shared_from_this<RawGreenlet>,
                    private internal::ListNode {
 public:
  enum class Kind : uint8_t { kMain, kHub, kSpawned };

  virtual ~RawGreenlet();
  RawGreenlet(const RawGreenlet&) = delete;
  RawGreenlet& operator=(const RawGreenlet&) = delete;

  // The name used in messages: "Greenlet-<id>" unless set. The default is
  // made on first use (a spawn that is never named costs no string).
  const std::string& name() const {
    if (name_.empty() && kind_ == Kind::kSpawned) MakeDefaultName();
    return name_;
  }
  // True for a spawned greenlet that nobody named or asked the name of:
  // its name is the default, not made yet (a trace recorder need not make
  // it to know).
  bool unnamed() const { return name_.empty() && kind_ == Kind::kSpawned; }
  // The name without making it: for readers on other threads (the
  // blocking monitor), which must not write.
  std::string name_snapshot() const;
  void set_name(std::string name) { name_ = std::move(name); }
  // How error and deadlock reports name it: name(), unless a subclass says
  // more (gevent's __str__; see GreenletClass in greenlet.h).
  virtual std::string describe() const { return name(); }
  // Per-hub sequence number (deterministic; 0 for the main greenlet).
  uint64_t id() const { return id_; }
  Hub* hub() const { return hub_; }
  Kind kind() const { return kind_; }

  // True once the body has started running (switched to at least once).
  bool has_run() const { return state_ != State::kNotRun; }
  // True while it has run and not finished.
  bool active() const { return state_ == State::kActive; }
  // True once the body has finished (returned, threw, or never will run).
  bool finished() const { return state_ == State::kFinished; }
  // What it is blocked on, or nullptr if it is not blocked.
  const char* waiting_on() const { return waiting_on_; }
  // The greenlet it waits for (join, get), or nullptr.
  const RawGreenlet* waiting_for() const { return waiting_for_; }
  // The object it is blocked on, if that object describes itself (a lock),
  // or nullptr. Set by the object around its wait.
  const BlockingObject* blocked_on() const { return blocked_on_; }
  void set_blocked_on(const BlockingObject* object) { blocked_on_ = object; }

  // The simulated host it runs on (sim/network.h; 0: the default host). A
  // spawned greenlet starts on its spawner's host.
  uint32_t host() const { return host_; }
  void set_host(uint32_t host) { host_ = host; }

  // Stack sizes a greenlet may ask for, and the default.
  static constexpr size_t kMinStackSize = 16 * 1024;
  static constexpr size_t kMaxStackSize = size_t{1} << 30;  // 1 GiB
  static constexpr size_t kDefaultStackSize =
      internal::StackPool::kDefaultStackSize;
  // The size of the stack it runs (or will run) on, in bytes: the hub's
  // default (kDefaultStackSize, 128 KiB) unless set_stack_size asked for
  // another; 0 for the main greenlet (it runs on the thread's own stack).
  size_t stack_size() const;
  // Asks for a stack of `bytes` (rounded up to whole pages), for a greenlet
  // whose body needs deep recursion or large frames. Call it before the
  // greenlet first runs (after make_greenlet, or right after spawn, before
  // the spawner blocks); afterwards it throws std::logic_error naming the
  // greenlet, as it does for the main and the hub greenlet. Throws
  // std::invalid_argument for a size below kMinStackSize or above
  // kMaxStackSize, saying which. A stack of another size than the default
  // is mapped for this greenlet alone (with a guard page) when it first
  // runs and unmapped when it finishes: a few microseconds more per spawn.
  void set_stack_size(size_t bytes);

  // Spawned greenlet objects alive in this thread (for leak checks).
  static long live_count();

 protected:
  RawGreenlet(Hub* hub, Kind kind);
  // The body; runs on this greenlet's own stack the first time the hub
  // switches to it. Exceptions must not escape (the Greenlet class catches
  // them); one that does is reported and ends the greenlet.
  virtual void Run() = 0;
  // Called in the greenlet itself, after Run() returned, just before it
  // switches away for the last time.
  virtual void OnRunFinished() {}
  // Called by Hub::destroy on a greenlet it could not kill (it caught
  // GreenletExit every time), once it is marked finished; it will never run
  // again and its stack is not unwound.
  virtual void OnAbandoned() {}
  // Marks a greenlet that never ran as finished (killed before start).
  void MarkFinishedWithoutRunning() { state_ = State::kFinished; }

 private:
  friend class Hub;
  friend class internal::IntrusiveList<internal::ListNode>;
  friend bool internal::CurrentGreenletGuard(const void*, const void*, char*,
                                             size_t, size_t*);
  void MakeDefaultName() const;
  enum class State : uint8_t { kNotRun, kActive, kFinished };
  static void Entry(void* self);

  Hub* hub_;
  Kind kind_;
  State state_ = State::kNotRun;
  uint32_t host_ = 0;
  uint64_t id_ = 0;
  mutable std::string name_;  // empty: the default, not made yet
  const char* waiting_on_ = nullptr;
  const RawGreenlet* waiting_for_ = nullptr;
  const BlockingObject* blocked_on_ = nullptr;
  internal::Context ctx_;
  // While the greenlet has not run, only stack_.size may be set: the size
  // set_stack_size asked for (0: the pool's). It is kept after the stack
  // is released.
  internal::Stack stack_;
  std::exception_ptr resume_error_;
  // Holds this greenlet alive while it is running (set on first switch,
  // dropped by the hub after it finished).
  std::shared_ptr<RawGreenlet> self_;
};

// The greenlet that is running now in this thread.
RawGreenlet* getcurrent();

// Runs `fn` in a new greenlet, scheduled like spawn() but with no result,
// links or join. Throws std::invalid_argument if `fn` is empty.
std::shared_ptr<RawGreenlet> spawn_raw(std::function<void()> fn);

namespace internal {
// From the hub only: runs `fn` in a new raw greenlet at once (until it
// blocks or finishes). Used for links, which gevent runs this way.
void RunInNewGreenlet(Hub* hub, std::function<void()> fn);
}  // namespace internal

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_RAW_GREENLET_H_
