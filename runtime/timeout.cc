#include "runtime/timeout.h"

#include <atomic>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gevent {
namespace {

// Timeout ids only identify; they are never printed or ordered by.
std::atomic<uint64_t> g_next_timeout_id{1};

std::string SecondsText(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "inf";
  return absl::StrFormat("%g", absl::ToDoubleSeconds(d));
}

}  // namespace

TimeoutError::TimeoutError(absl::Duration seconds, uint64_t timeout_id)
    : seconds_(seconds),
      timeout_id_(timeout_id),
      message_(absl::StrCat(SecondsText(seconds), " seconds")) {}

bool TimeoutError::is(const Timeout& t) const { return t.id() == timeout_id_; }

Timeout::Timeout(absl::Duration seconds)
    : Timeout(seconds, std::exception_ptr()) {}

Timeout::Timeout(absl::Duration seconds, std::exception_ptr exception)
    : seconds_(seconds < absl::ZeroDuration() ? absl::ZeroDuration() : seconds),
      exception_(std::move(exception)),
      id_(g_next_timeout_id.fetch_add(1, std::memory_order_relaxed)) {
  timer_.owner = this;
}

Timeout::~Timeout() { cancel(); }

void Timeout::start() {
  if (pending()) {
    throw std::logic_error(absl::StrCat(
        "Timeout(", SecondsText(seconds_),
        " seconds) is already started; to restart it, cancel it first"));
  }
  if (seconds_ == absl::InfiniteDuration()) return;  // never fires
  Hub* hub = get_hub();
  greenlet_ = hub->current()->shared_from_this();
  hub->start(&timer_, seconds_);
}

std::unique_ptr<Timeout> Timeout::start_new(absl::Duration seconds,
                                            std::exception_ptr exception) {
  auto t = std::make_unique<Timeout>(seconds, std::move(exception));
  t->start();
  return t;
}

void Timeout::cancel() {
  if (timer_.active()) greenlet_->hub()->stop(&timer_);
}

void Timeout::close() {
  cancel();
  greenlet_.reset();
}

bool Timeout::pending() const { return timer_.active(); }

void Timeout::FireTimer::Fire(Timer* t) {
  Timeout* self = static_cast<FireTimer*>(t)->owner;
  std::exception_ptr e =
      self->exception_ != nullptr
          ? self->exception_
          : std::make_exception_ptr(TimeoutError(self->seconds_, self->id_));
  std::shared_ptr<RawGreenlet> g = self->greenlet_;
  g->hub()->EmitTimeoutFired(g->id());
  g->hub()->resume(g.get(), std::move(e));
}

}  // namespace gevent
