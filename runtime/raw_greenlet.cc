// RawGreenlet: construction, names, the entry point every greenlet's stack
// starts in, and spawn_raw.
#include "runtime/raw_greenlet.h"

#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "runtime/internal/hub_inline.h"

namespace gevent {

using internal::HubShutdown;

void RawGreenlet::Entry(void* arg) {
  auto* g = static_cast<RawGreenlet*>(arg);
  Hub* hub = g->hub_;
  if (g->kind_ == Kind::kSpawned) {
    try {
      g->Run();
    } catch (const GreenletExit&) {
      // A kill: not an error.
    } catch (...) {
      hub->handle_error(g, std::current_exception());
    }
    g->OnRunFinished();
    g->state_ = State::kFinished;
    Hub::CheckStackOnSwitchOut(g);
    // Resumed by a hand-off from a pass that is not over: the hub finishes
    // the pass first.
    if (hub->tail_resumed_ == g) hub->HandPassBack();
    hub->finished_ = g;
    RawGreenlet* to = hub->hub_g_;
    hub->current_ = to;
    internal::FinalJump(&g->ctx_, &to->ctx_);
  }
  // The hub greenlet.
  try {
    hub->HubLoop();
  } catch (const HubShutdown&) {
  }
  g->state_ = State::kFinished;
  RawGreenlet* to = hub->main_.get();
  hub->current_ = to;
  internal::FinalJump(&g->ctx_, &to->ctx_);
}

// ---------------------------------------------------------------- greenlets

namespace {
thread_local long t_live_greenlets = 0;
}  // namespace

long RawGreenlet::live_count() { return t_live_greenlets; }

RawGreenlet::RawGreenlet(Hub* hub, Kind kind) : hub_(hub), kind_(kind) {
  if (kind == Kind::kSpawned) {
    ++t_live_greenlets;
    id_ = hub->next_greenlet_id();
    if (const RawGreenlet* spawner = hub->current()) host_ = spawner->host_;
  }
}

void RawGreenlet::MakeDefaultName() const {
  name_ = absl::StrCat("Greenlet-", id_);
}

std::string RawGreenlet::name_snapshot() const {
  if (!name_.empty() || kind_ != Kind::kSpawned) return name_;
  return absl::StrCat("Greenlet-", id_);
}

RawGreenlet::~RawGreenlet() {
  if (kind_ == Kind::kSpawned) --t_live_greenlets;
}

RawGreenlet* getcurrent() { return get_hub()->current(); }

namespace internal {
bool CurrentGreenletGuard(const void* addr, char* name, size_t name_size,
                          size_t* size) {
  Hub* hub = get_hub_if_exists();
  if (hub == nullptr) return false;
  const RawGreenlet* g = hub->current();
  const Stack& s = g->stack_;
  if (s.guard == nullptr) return false;
  // A large frame can jump past the guard page; accept a little below it.
  const char* a = static_cast<const char*>(addr);
  if (a < s.guard - 64 * 1024 || a >= s.base) return false;
  // No allocation here (a signal handler): copy the name, or format the
  // default one that was never made.
  if (!g->name_.empty() || g->kind_ != RawGreenlet::Kind::kSpawned) {
    snprintf(name, name_size, "%s", g->name_.c_str());
  } else {
    snprintf(name, name_size, "Greenlet-%llu",
             static_cast<unsigned long long>(g->id_));
  }
  *size = s.size;
  return true;
}
}  // namespace internal

namespace {

class FunctionGreenlet final : public RawGreenlet {
 public:
  FunctionGreenlet(Hub* hub, std::function<void()> fn)
      : RawGreenlet(hub, Kind::kSpawned), fn_(std::move(fn)) {
    start_.owner = this;
  }
  void Schedule() {
    pending_ = shared_from_this();
    hub()->run_callback(&start_);
  }

 protected:
  void Run() override {
    std::function<void()> fn = std::move(fn_);
    fn();
  }

 private:
  struct StartCallback : Callback {
    StartCallback() : Callback(&Start, &Discard) {}
    FunctionGreenlet* owner = nullptr;
  };
  static void Start(Callback* cb) {
    FunctionGreenlet* g = static_cast<StartCallback*>(cb)->owner;
    std::shared_ptr<RawGreenlet> keep = std::move(g->pending_);
    g->hub()->resume(g);
  }
  static void Discard(Callback* cb) {
    static_cast<StartCallback*>(cb)->owner->pending_.reset();
  }

  StartCallback start_;
  std::shared_ptr<RawGreenlet> pending_;
  std::function<void()> fn_;
};

}  // namespace

std::shared_ptr<RawGreenlet> spawn_raw(std::function<void()> fn) {
  if (!fn) throw std::invalid_argument("spawn_raw: the function is empty");
  Hub* hub = get_hub();
  auto g = std::make_shared<FunctionGreenlet>(hub, std::move(fn));
  g->Schedule();
  hub->EmitSpawn(g.get(), g->id(), hub->current()->id());
  return g;
}

void internal::RunInNewGreenlet(Hub* hub, std::function<void()> fn) {
  auto g = std::make_shared<FunctionGreenlet>(hub, std::move(fn));
  hub->EmitSpawn(g.get(), g->id(), hub->current()->id());
  hub->resume(g.get());
}

}  // namespace gevent
