#include "runtime/waitable.h"

#include "runtime/raw_greenlet.h"

#include <memory>
#include <utility>

namespace gevent {
namespace {

struct FunctionLink : Link {
  explicit FunctionLink(std::function<void(Waitable&)> f)
      : Link(&Fire), fn(std::move(f)) {}
  static void Fire(Link* l, Waitable* source) {
    std::unique_ptr<FunctionLink> self(static_cast<FunctionLink*>(l));
    try {
      self->fn(*source);
    } catch (const internal::HubShutdown&) {
      throw;
    } catch (...) {
      source->hub()->handle_error(nullptr, std::current_exception());
    }
  }
  std::function<void(Waitable&)> fn;
};

}  // namespace

Waitable::Waitable(Hub* hub) : hub_(hub) { notifier_.owner = this; }

Waitable::~Waitable() {
  if (alive_during_notify_ != nullptr) *alive_during_notify_ = false;
  while (Link* l = links_.pop_front()) {
    l->source_ = nullptr;
    if (l->id_ != 0) delete static_cast<FunctionLink*>(l);
  }
}

LinkId Waitable::rawlink(std::function<void(Waitable&)> fn) {
  if (!fn) throw std::invalid_argument("rawlink: the callback is empty");
  auto* l = new FunctionLink(std::move(fn));
  l->id_ = ++next_link_id_;
  rawlink(l);
  return l->id_;
}

bool Waitable::unlink(LinkId id) {
  Link* found = nullptr;
  links_.for_each([&](Link* l) {
    if (found == nullptr && l->id_ == id) found = l;
  });
  if (found == nullptr) return false;
  unlink(found);
  delete static_cast<FunctionLink*>(found);
  return true;
}


void Waitable::Run(Callback* cb) {
  Waitable* self = static_cast<Notifier*>(cb)->owner;
  bool alive = true;
  self->BeginPass();
  RunPass(self, &alive);
}

void Waitable::PassLastUnlinked() {
  pass_last_ = links_.before(pass_last_);
  if (pass_last_ == nullptr) pass_over_ = true;
}

void Waitable::RunPass(Waitable* self, bool* alive) {
  Hub* hub = self->hub_;
  // Ends the pass however this frame is left (normally, or unwound when the
  // hub is destroyed while a resumed waiter was running), unless a link
  // destroyed the object or a greenlet took the pass over (hand-off).
  struct Pass {
    Waitable* w;
    bool* alive;
    ~Pass() {
      if (!*alive) return;
      w->EndPass();  // may destroy the object: nothing may follow
    }
  } pass{self, alive};
  self->WatchPass(alive);
  while (Link* l = self->NextPassLink()) {
    l->source_ = nullptr;
    if (hub->observing()) hub->Emit(HubEventKind::kLinkNotified);
    hub->EnterPassLink(alive);
    l->fn_(l, self);
    if (hub->LeavePassLink()) {
      // A greenlet resumed by that link finished this pass itself.
      *alive = false;
      return;
    }
    if (!*alive) return;  // a link destroyed the object
  }
}

void internal::ResumeLink::Fire(Link* l, Waitable* source) {
  RawGreenlet* g = static_cast<ResumeLink*>(l)->greenlet;
  if (g->waiting_on() != nullptr) source->hub()->ResumeFromPass(g, source);
}

void Waitable::Discard(Callback* cb) {
  static_cast<Notifier*>(cb)->owner->on_links_notified();
}

}  // namespace gevent
