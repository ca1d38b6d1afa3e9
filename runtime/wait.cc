#include "runtime/wait.h"

#include <string>
#include <typeinfo>

#include "runtime/exceptions.h"
#include "runtime/internal/error_text.h"
#include "runtime/internal/hub_check.h"
#include "runtime/internal/waiter.h"
#include "runtime/timeout.h"

namespace gevent {
namespace internal {

WaitSet::WaitSet(size_t n, size_t count)
    : hub_(get_hub()),
      greenlet_(hub_->current()),
      size_(n),
      links_(new ObjectLink[n]),
      count_(count) {
  timer_.set = this;
}

void WaitSet::Add(size_t i, Waitable* object) {
  if (ABSL_PREDICT_FALSE(!OnOwnHub(object->hub()))) {
    // Named by its kind: "Greenlet", "Event", "BasicQueue", ...
    std::string type = dynamic_cast<GreenletBase*>(object) != nullptr
                           ? "Greenlet"
                           : Demangle(typeid(*object).name());
    type = type.substr(0, type.find('<'));
    type = type.substr(type.rfind(':') == std::string::npos ? 0 : type.rfind(':') + 1);
    ThrowInvalidThreadUse(type, "wait", object->hub());
  }
  links_[i].set = this;
  object->rawlink(&links_[i]);
}

void WaitSet::Start(absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) hub_->start(&timer_, timeout);
}

WaitSet::~WaitSet() {
  hub_->stop(&timer_);
  // The links unlink themselves as they are destroyed.
}

void WaitSet::ObjectLink::Fire(Link* l, Waitable*) {
  auto* link = static_cast<ObjectLink*>(l);
  WaitSet* set = link->set;
  link->next_ready = nullptr;
  if (set->ready_tail_ != nullptr) {
    set->ready_tail_->next_ready = link;
  } else {
    set->ready_head_ = link;
  }
  set->ready_tail_ = link;
  set->Wake();
}

void WaitSet::TimeoutTimer::Fire(Timer* t) {
  WaitSet* set = static_cast<TimeoutTimer*>(t)->set;
  set->timed_out_ = true;
  set->Wake();
}

void WaitSet::Wake() {
  if (waiting_) {
    waiting_ = false;
    hub_->resume(greenlet_);
  }
}

std::ptrdiff_t WaitSet::Next() {
  for (;;) {
    if (returned_ >= count_ || returned_ >= size_) return -1;
    if (ObjectLink* link = ready_head_) {
      ready_head_ = link->next_ready;
      if (ready_head_ == nullptr) ready_tail_ = nullptr;
      ++returned_;
      return link - links_.get();
    }
    if (timed_out_) return -1;
    waiting_ = true;
    struct Reset {
      bool* waiting;
      ~Reset() { *waiting = false; }
    } reset{&waiting_};
    hub_->wait("wait");
  }
}

void KillAll(std::vector<std::shared_ptr<GreenletBase>> greenlets,
             std::exception_ptr exception, bool block, absl::Duration timeout) {
  if (exception == nullptr) exception = std::make_exception_ptr(GreenletExit());
  // Nothing is killed if one of them belongs to another hub.
  for (auto& g : greenlets) {
    if (g != nullptr && !g->dead()) CheckOwnHub(g->hub(), "Greenlet", "killall");
  }
  // Greenlets that have not started die at once, without running.
  std::vector<std::shared_ptr<GreenletBase>> need_killed;
  for (auto& g : greenlets) {
    if (g == nullptr) continue;
    if (!g->has_run() && !g->dead()) {
      g->kill_with(exception, /*block=*/false);
      continue;
    }
    if (!g->dead()) need_killed.push_back(g);
  }
  if (need_killed.empty()) return;
  Hub* hub = get_hub();
  struct KillCallback : Callback {
    KillCallback() : Callback(&Fire) {}
    static void Fire(Callback* c) {
      auto* k = static_cast<KillCallback*>(c);
      for (auto& g : k->greenlets) {
        if (g->dead()) continue;
        g->hub()->EmitKill(g->id());
        g->hub()->resume(g.get(), k->exception);
      }
      if (k->waiter != nullptr) k->waiter->wake();
    }
    std::vector<std::shared_ptr<GreenletBase>> greenlets;
    std::exception_ptr exception;
    Waiter* waiter = nullptr;
  };
  if (!block) {
    // The callback owns itself until it has run.
    auto holder = std::make_shared<std::vector<std::shared_ptr<GreenletBase>>>(
        std::move(need_killed));
    hub->run_callback([holder, exception] {
      for (auto& g : *holder) {
        if (g->dead()) continue;
        g->hub()->EmitKill(g->id());
        g->hub()->resume(g.get(), exception);
      }
    });
    return;
  }
  Waiter waiter(hub);
  KillCallback kill;
  kill.greenlets = need_killed;
  kill.exception = exception;
  kill.waiter = &waiter;
  Timeout t(timeout);
  t.start();
  hub->run_callback(&kill);
  waiter.wait("killall");
  std::vector<std::shared_ptr<GreenletBase>> alive;
  for (auto& g : need_killed) {
    if (!g->dead()) alive.push_back(g);
  }
  if (!alive.empty()) wait(alive);
}

}  // namespace internal

bool wait(absl::Duration timeout) {
  Hub* hub = get_hub();
  internal::Waiter waiter(hub);
  try {
    waiter.wait("wait() for all greenlets", timeout, /*ref_timeout=*/false);
    return false;
  } catch (const LoopExit&) {
    return true;
  }
}

void kill(const std::shared_ptr<RawGreenlet>& g, std::exception_ptr exception) {
  if (g == nullptr || g->finished()) return;
  if (auto* gb = dynamic_cast<GreenletBase*>(g.get())) {
    gb->kill_with(std::move(exception), /*block=*/false);
    return;
  }
  internal::CheckOwnHub(g->hub(), "greenlet", "kill");
  if (exception == nullptr) exception = std::make_exception_ptr(GreenletExit());
  std::shared_ptr<RawGreenlet> target = g;
  target->hub()->run_callback([target, exception] {
    target->hub()->resume(target.get(), exception);
  });
}

}  // namespace gevent
