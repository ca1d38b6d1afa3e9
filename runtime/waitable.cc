#include "runtime/waitable.h"

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
  // Ends the pass however this frame is left (normally, or unwound when the
  // hub is destroyed while a resumed waiter was running), unless a link
  // destroyed the object.
  struct Pass {
    Waitable* w;
    bool alive = true;
    ~Pass() {
      if (!alive) return;
      w->alive_during_notify_ = nullptr;
      w->on_links_notified();  // may destroy the object: nothing may follow
    }
  } pass{self};
  self->alive_during_notify_ = &pass.alive;
  while (self->keep_notifying()) {
    Link* l = self->links_.pop_front();
    if (l == nullptr) break;
    l->source_ = nullptr;
    if (self->hub_->observing()) self->hub_->Emit(HubEventKind::kLinkNotified);
    l->fn_(l, self);
    if (!pass.alive) return;  // a link destroyed the object
  }
}

void Waitable::Discard(Callback* cb) {
  static_cast<Notifier*>(cb)->owner->on_links_notified();
}

}  // namespace gevent
