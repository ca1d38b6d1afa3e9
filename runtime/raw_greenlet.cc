// RawGreenlet: construction, names, the entry point every greenlet's stack
// starts in, and spawn_raw.
#include "runtime/raw_greenlet.h"

#include <unistd.h>

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

size_t RawGreenlet::stack_size() const {
  if (stack_.size != 0) return stack_.size;
  if (kind_ == Kind::kMain) return 0;
  return hub_->stack_pool().stack_size();
}

void RawGreenlet::set_stack_size(size_t bytes) {
  if (kind_ != Kind::kSpawned) {
    throw std::logic_error(absl::StrCat(
        "set_stack_size: greenlet '", name(),
        "' is not a spawned greenlet; its stack is not its own"));
  }
  if (state_ != State::kNotRun) {
    throw std::logic_error(absl::StrCat(
        "set_stack_size: greenlet '", name(),
        "' has already run (or finished); set its stack size before it "
        "first runs"));
  }
  if (bytes < kMinStackSize) {
    throw std::invalid_argument(absl::StrCat(
        "set_stack_size(", bytes, ") for greenlet '", name(),
        "': below the minimum of ", kMinStackSize, " bytes (16 KiB)"));
  }
  if (bytes > kMaxStackSize) {
    throw std::invalid_argument(absl::StrCat(
        "set_stack_size(", bytes, ") for greenlet '", name(),
        "': above the maximum of ", kMaxStackSize, " bytes (1 GiB)"));
  }
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  stack_.size = (bytes + page - 1) / page * page;
}

namespace internal {
bool CurrentGreenletGuard(const void* addr, const void* sp, char* name,
                          size_t name_size, size_t* size) {
  Hub* hub = get_hub_if_exists();
  if (hub == nullptr) return false;
  const RawGreenlet* g = hub->current();
  if (g == nullptr) return false;
  const Stack& s = g->stack_;
  if (!s.valid()) return false;  // the main greenlet: the thread's stack
  // The guard page, or a little below it: a frame a bit larger than the
  // page can fault past it.
  constexpr size_t kAddrWindow = 64 * 1024;
  // A stack pointer below the stack: a frame larger than the guard page
  // (or than the canary's reach on a slab stack) was pushed, and faulted
  // where nothing is mapped. Beyond this window below the base the stack
  // pointer is taken for one on some other stack the code switched to.
  constexpr size_t kSpWindow = 1024 * 1024;
  const uintptr_t base = reinterpret_cast<uintptr_t>(s.base);
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  const uintptr_t p = reinterpret_cast<uintptr_t>(sp);
  const uintptr_t addr_low =
      (s.guard != nullptr ? reinterpret_cast<uintptr_t>(s.guard) : base) -
      kAddrWindow;
  const bool addr_below = a >= addr_low && a < base;
  const bool sp_below = sp != nullptr && p >= base - kSpWindow && p < base;
  if (!addr_below && !sp_below) return false;
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
