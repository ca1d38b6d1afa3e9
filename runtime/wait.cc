#include "runtime/wait.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <typeinfo>

#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/internal/error_text.h"
#include "runtime/internal/finish_watch.h"
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

namespace {

// Throws `exception` into each greenlet still alive (from a hub callback).
void KillEach(const std::vector<std::shared_ptr<RawGreenlet>>& greenlets,
              const std::exception_ptr& exception) {
  for (auto& g : greenlets) {
    if (g->finished()) continue;
    g->hub()->EmitKill(g->id());
    g->hub()->resume(g.get(), exception);
  }
}

}  // namespace

void KillAll(std::vector<std::shared_ptr<RawGreenlet>> greenlets,
             std::exception_ptr exception, bool block, absl::Duration timeout) {
  if (exception == nullptr) exception = std::make_exception_ptr(GreenletExit());
  // Nothing is killed if one of them belongs to another hub, or is the main
  // greenlet or the hub.
  for (auto& g : greenlets) {
    if (g == nullptr || g->finished()) continue;
    if (g->kind() != RawGreenlet::Kind::kSpawned) {
      throw std::invalid_argument(absl::StrCat(
          "killall: '", g->name(), "' is the ",
          g->kind() == RawGreenlet::Kind::kHub ? "hub" : "main greenlet",
          ", which cannot be killed"));
    }
    CheckOwnHub(g->hub(), "Greenlet", "killall");
  }
  // Greenlets that have not started die at once, without running.
  std::vector<std::shared_ptr<RawGreenlet>> need_killed;
  for (auto& g : greenlets) {
    if (g == nullptr || g->finished()) continue;
    if (!g->has_run()) {
      if (auto* gb = dynamic_cast<GreenletBase*>(g.get())) {
        gb->kill_with(exception, /*block=*/false);
      } else {
        // Throwing into a raw greenlet that never ran ends it there, with
        // no switch.
        g->hub()->EmitKill(g->id());
        g->hub()->resume(g.get(), exception);
      }
      continue;
    }
    need_killed.push_back(g);
  }
  if (need_killed.empty()) return;
  Hub* hub = get_hub();
  struct KillCallback : Callback {
    KillCallback() : Callback(&Fire) {}
    static void Fire(Callback* c) {
      auto* k = static_cast<KillCallback*>(c);
      KillEach(k->greenlets, k->exception);
      if (k->waiter != nullptr) k->waiter->wake();
    }
    std::vector<std::shared_ptr<RawGreenlet>> greenlets;
    std::exception_ptr exception;
    Waiter* waiter = nullptr;
  };
  if (!block) {
    // The callback owns itself until it has run.
    auto holder = std::make_shared<std::vector<std::shared_ptr<RawGreenlet>>>(
        std::move(need_killed));
    hub->run_callback([holder, exception] { KillEach(*holder, exception); });
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
  // Greenlets that caught the exception: wait for them to end, by their
  // links; raw ones, which have none, by the hub's finish watch.
  std::vector<std::shared_ptr<GreenletBase>> alive;
  std::vector<std::shared_ptr<RawGreenlet>> raw_alive;
  for (auto& g : need_killed) {
    if (g->finished()) continue;
    if (auto gb = std::dynamic_pointer_cast<GreenletBase>(g)) {
      alive.push_back(std::move(gb));
    } else {
      raw_alive.push_back(g);
    }
  }
  if (!alive.empty()) wait(alive);
  for (auto& g : raw_alive) {
    while (!g->finished()) {
      Waiter finished(hub);
      Waiter::WakeCallback woken(&finished);
      FinishWatch watch(hub, &woken);
      watch.Arm();
      finished.wait("killall", absl::InfiniteDuration(), true, g.get());
    }
  }
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
