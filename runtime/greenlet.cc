#include "runtime/greenlet.h"

#include <unistd.h>

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "runtime/internal/hub_check.h"
#include "runtime/internal/waiter.h"

namespace gevent {

GreenletBase::GreenletBase(Hub* hub)
    : RawGreenlet(hub, Kind::kSpawned), Waitable(hub), hub_id_(hub->id()) {
  start_callback_.owner = this;
  // As in gevent: a greenlet notifies every link, also the ones linked
  // while it notifies (gevent's Greenlet._notify_links runs until none is
  // left; its events and the other primitives stop at their final link).
  pass_includes_late_links_ = true;
}

GreenletBase::~GreenletBase() = default;

void GreenletBase::CheckHub(const char* what) const {
  Hub* h = get_hub_if_exists();
  if (h == nullptr || h->id() != hub_id_ || h->destroyed()) {
    // (Its hub may be gone: only its id is known for sure.)
    const int thread = static_cast<int>(gettid());
    throw InvalidThreadUseError(absl::StrCat(
        "cannot ", what, " greenlet '", name(), "': it belongs to hub ",
        hub_id_, ", used from ",
        h != nullptr ? absl::StrCat("hub ", h->id(), h->destroyed() ? " (destroyed)" : "",
                                    " (thread ", thread, ")")
                     : absl::StrCat("thread ", thread, ", which has no hub"),
        ": a greenlet may be started, joined or killed only from its own "
        "hub (see docs/api.md, Threads)"));
  }
}

namespace {

[[noreturn]] void NotShared(const std::string& name) {
  throw std::logic_error(
      "greenlet '" + name +
      "' cannot start: it is not owned by a std::shared_ptr (make it with "
      "gevent::spawn_greenlet<T>(...) or std::make_shared)");
}

}  // namespace

std::shared_ptr<GreenletBase> GreenletBase::SharedSelf() {
  try {
    return std::static_pointer_cast<GreenletBase>(shared_from_this());
  } catch (const std::bad_weak_ptr&) {
    NotShared(name());
  }
}

void GreenletBase::start() {
  if (start_requested_ || finished()) return;
  CheckHub("start");
  keep_alive_ = SharedSelf();
  start_requested_ = true;
  hub()->run_callback(&start_callback_);
  hub()->EmitSpawn(this, id(), hub()->current()->id());
}

void GreenletBase::start_later(absl::Duration delay) {
  if (start_requested_ || finished()) return;
  CheckHub("start");
  keep_alive_ = SharedSelf();
  start_requested_ = true;
  // Made only for start_later(): most greenlets never need it.
  start_timer_ = std::make_unique<StartTimer>();
  start_timer_->owner = this;
  hub()->start(start_timer_.get(), delay);
  hub()->EmitSpawn(this, id(), hub()->current()->id());
}

void GreenletBase::StartCallback::Fire(Callback* c) {
  GreenletBase* g = static_cast<StartCallback*>(c)->owner;
  g->hub()->resume(g);
}
void GreenletBase::StartCallback::Discard(Callback* c) {
  static_cast<StartCallback*>(c)->owner->NeverStarted();
}
void GreenletBase::StartTimer::Fire(Timer* t) {
  GreenletBase* g = static_cast<StartTimer*>(t)->owner;
  g->hub()->resume(g);
}
void GreenletBase::StartTimer::Discard(Timer* t) {
  static_cast<StartTimer*>(t)->owner->NeverStarted();
}

void GreenletBase::NeverStarted() {
  // Its hub is being destroyed (its thread exited, destroy_hub(), the end
  // of a Simulation) before it ran: it ends killed, without running, so
  // that it is ready() and get() says what happened.
  MarkFinishedWithoutRunning();
  EndWithoutLinks("its hub was destroyed before it ran");
}

void GreenletBase::OnAbandoned() {
  EndWithoutLinks(
      "abandoned by Hub::destroy: it caught GreenletExit every time it was killed");
}

void GreenletBase::EndWithoutLinks(const char* why) {
  // Its links cannot run (its hub is gone), and nobody of another hub can
  // be waiting on it.
  exit_ = GreenletExit(why);
  ReleaseFunction();
  keep_alive_.reset();  // may destroy this greenlet: nothing may follow
}

void GreenletBase::Run() {
  try {
    RunFunction();
  } catch (const GreenletExit& e) {
    exit_ = e;
  } catch (...) {
    error_ = std::current_exception();
  }
}

void GreenletBase::OnRunFinished() { Finish(); }

void GreenletBase::Finish() {
  ReleaseFunction();
  if (error_ != nullptr) hub()->handle_error(this, error_);
  if (hub()->observing()) {
    hub()->EmitFinish(this, id(),
                      error_ != nullptr   ? HubEvent::Finish::kError
                      : exit_.has_value() ? HubEvent::Finish::kKilled
                                          : HubEvent::Finish::kValue);
  }
  // The links run in the hub, after this greenlet switched away for the last
  // time; on_notify_scheduled() keeps the object alive until they have run.
  notify_links();
  // While it runs, the hub holds the greenlet until its stack is freed.
  keep_alive_.reset();
}

void GreenletBase::on_notify_scheduled() {
  notify_keep_alive_ = std::static_pointer_cast<GreenletBase>(shared_from_this());
}

void GreenletBase::on_links_notified() {
  std::shared_ptr<GreenletBase> last = std::move(notify_keep_alive_);
  last.reset();  // may destroy this greenlet: nothing may follow
}

bool GreenletBase::MaybeKillBeforeStart(std::exception_ptr exception) {
  if (has_run()) return false;
  if (finished()) return true;
  hub()->cancel(&start_callback_);
  if (start_timer_ != nullptr) hub()->stop(start_timer_.get());
  MarkFinishedWithoutRunning();
  try {
    std::rethrow_exception(exception);
  } catch (const GreenletExit& e) {
    exit_ = e;
  } catch (...) {
    error_ = exception;
  }
  // The caller holds a reference, so Finish() may drop the hub's.
  Finish();
  return true;
}

void GreenletBase::kill_with(std::exception_ptr exception, bool block,
                             absl::Duration timeout) {
  if (finished()) return;
  CheckHub("kill");
  if (exception == nullptr) exception = std::make_exception_ptr(GreenletExit());
  if (MaybeKillBeforeStart(exception)) return;
  Hub* h = get_hub();
  if (h->current() == this) {
    // Killing yourself: the exception is raised right here.
    std::rethrow_exception(exception);
  }
  if (!block) {
    auto self = std::static_pointer_cast<GreenletBase>(shared_from_this());
    h->run_callback([self, exception] {
      self->hub()->EmitKill(self->id());
      self->hub()->resume(self.get(), exception);
    });
    return;
  }
  internal::Waiter waiter(h);
  struct KillCallback : Callback {
    KillCallback() : Callback(&Fire) {}
    static void Fire(Callback* c) {
      auto* k = static_cast<KillCallback*>(c);
      k->target->hub()->EmitKill(k->target->id());
      k->target->hub()->resume(k->target, k->exception);
      k->waiter->wake();
    }
    GreenletBase* target = nullptr;
    std::exception_ptr exception;
    internal::Waiter* waiter = nullptr;
  } kill;
  kill.target = this;
  kill.exception = exception;
  kill.waiter = &waiter;
  // The target must outlive the callback even if every handle is dropped.
  auto self = std::static_pointer_cast<GreenletBase>(shared_from_this());
  h->run_callback(&kill);
  waiter.wait("Greenlet.kill", absl::InfiniteDuration(), true, this);
  join(timeout);
}

void GreenletBase::join(absl::Duration timeout) {
  if (ready()) return;
  if (ABSL_PREDICT_FALSE(!internal::OnOwnHub(hub()))) CheckHub("join");
  Hub* h = get_hub();
  if (h->current() == this) {
    throw std::logic_error(absl::StrCat(
        "cannot join greenlet '", name(),
        "' from inside itself: it would wait for itself forever"));
  }
  internal::Waiter waiter(h);
  internal::Waiter::WakeLink link(&waiter);
  rawlink(&link);
  waiter.wait("Greenlet.join", timeout, true, this);
}

LinkId GreenletBase::AddSpawnedLink(std::function<void(GreenletBase&)> callback,
                                    int when) {
  if (!callback) throw std::invalid_argument("link: the callback is empty");
  return rawlink([callback = std::move(callback), when](Waitable& w) {
    auto& g = static_cast<GreenletBase&>(w);
    if (when == 1 && !g.successful()) return;
    if (when == 2 && g.successful()) return;
    auto self = std::static_pointer_cast<GreenletBase>(g.shared_from_this());
    internal::RunInNewGreenlet(g.hub(), [self, callback] { callback(*self); });
  });
}

LinkId GreenletBase::link(std::function<void(GreenletBase&)> callback) {
  return AddSpawnedLink(std::move(callback), 0);
}
LinkId GreenletBase::link_value(std::function<void(GreenletBase&)> callback) {
  return AddSpawnedLink(std::move(callback), 1);
}
LinkId GreenletBase::link_exception(
    std::function<void(GreenletBase&)> callback) {
  return AddSpawnedLink(std::move(callback), 2);
}

namespace internal {

void WaitForResult(GreenletBase* g, bool block, absl::Duration timeout) {
  if (g->ready()) return;
  if (ABSL_PREDICT_FALSE(!internal::OnOwnHub(g->hub()))) g->CheckHub("get");
  if (!block) throw TimeoutError(absl::ZeroDuration(), 0);
  Hub* h = get_hub();
  if (h->current() == g) {
    throw std::logic_error(absl::StrCat(
        "cannot get() greenlet '", g->name(),
        "' from inside itself: it would wait for itself forever"));
  }
  internal::Waiter waiter(h);
  internal::Waiter::WakeLink link(&waiter);
  g->rawlink(&link);
  waiter.wait("Greenlet.get", timeout, true, g);
  if (!g->ready()) throw TimeoutError(timeout, 0);
}

}  // namespace internal

void Greenlet<void>::get(bool block, absl::Duration timeout) {
  internal::WaitForResult(this, block, timeout);
  if (exception() != nullptr) std::rethrow_exception(exception());
}

}  // namespace gevent
