// WaitName: the optional name of a primitive that greenlets wait on (Event,
// AsyncResult, Queue), for deadlock reports: "g1 waits for Event 'ready'".
//
// Unnamed, it costs a pointer and a test per wait. Named, a waiting
// greenlet's blocked_on() points at a small description that every waiter
// holds (counted) while it waits, so a report made after the primitive was
// destroyed still reads live memory. Used on the primitive's own thread
// only, as the primitive is.
#ifndef GEVENTPP_RUNTIME_INTERNAL_WAIT_NAME_H_
#define GEVENTPP_RUNTIME_INTERNAL_WAIT_NAME_H_

#include <string>
#include <utility>

#include "absl/base/optimization.h"
#include "runtime/hub.h"
#include "runtime/raw_greenlet.h"

namespace gevent {
namespace internal {

class WaitName {
  struct State;

 public:
  WaitName() = default;
  WaitName(const WaitName&) = delete;
  WaitName& operator=(const WaitName&) = delete;
  ~WaitName() { Drop(state_); }

  // `kind` is what the object is ("Event"); an empty name removes it.
  void Set(const char* kind, std::string name) {
    State* old = state_;
    state_ = nullptr;
    if (!name.empty()) {
      state_ = new State;
      state_->text = std::string(kind) + " '" + name + "'";
      state_->name = std::move(name);
    }
    Drop(old);
  }
  bool named() const { return state_ != nullptr; }
  const std::string& Get() const {
    static const std::string kNone;
    return state_ != nullptr ? state_->name : kNone;
  }

  // While it lives, the hub's current greenlet is blocked on the named
  // object (nothing at all if the object has no name).
  class Scope {
   public:
    Scope(const WaitName& n, Hub* hub) : state_(n.state_) {
      if (ABSL_PREDICT_FALSE(state_ != nullptr)) {
        ++state_->refs;
        g_ = hub->current();
        g_->set_blocked_on(state_);
      }
    }
    ~Scope() {
      if (ABSL_PREDICT_FALSE(state_ != nullptr)) {
        if (g_->blocked_on() == state_) g_->set_blocked_on(nullptr);
        Drop(state_);
      }
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    State* state_;
    RawGreenlet* g_ = nullptr;
  };

 private:
  struct State final : BlockingObject {
    std::string describe() const override { return text; }
    const RawGreenlet* holder() const override { return nullptr; }
    std::string name;
    std::string text;
    int refs = 1;  // the WaitName's own, plus one per waiter
  };
  static void Drop(State* s) {
    if (s != nullptr && --s->refs == 0) delete s;
  }
  State* state_ = nullptr;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_WAIT_NAME_H_
