#include "sim/simulation.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/sleep.h"
#include "runtime/wait.h"

namespace gevent {
namespace sim {

Simulation::Simulation(uint64_t seed) : Simulation(SimOptions{seed}) {}

namespace {
// The Simulation made last on this thread and not yet destroyed; each one
// knows the one made before it (outer_).
thread_local Simulation* t_innermost = nullptr;
}  // namespace

Simulation::Simulation(SimOptions options) {
  auto hub = std::make_unique<SimHub>(options);
  hub_ = hub.get();
  previous_ = exchange_hub(std::move(hub));
  outer_ = t_innermost;
  t_innermost = this;
}

Simulation::~Simulation() {
  // The next Simulation in (made after this one), if it is still alive:
  // its previous_ holds this one's hub.
  Simulation* inner = nullptr;
  for (Simulation* s = t_innermost; s != nullptr && s != this; s = s->outer_) inner = s;
  if (inner == nullptr && t_innermost != this) {
    fprintf(stderr,
            "geventpp: sim::Simulation (hub %llu) destroyed on a thread other "
            "than the one that made it\n",
            static_cast<unsigned long long>(hub_->id()));
    abort();
  }
  if (inner == nullptr) {
    // In order. Destroy while still installed: greenlets unwinding now
    // (finally blocks, destructors) that call get_hub() must find this hub,
    // not the previous.
    hub_->destroy();
    std::unique_ptr<Hub> mine = exchange_hub(std::move(previous_));
    t_innermost = outer_;
    return;
  }
  // Out of order: a Simulation made after this one is still alive. This
  // hub is installed for its destruction only (for the same reason), then
  // the inner one's hub comes back, and the inner one will restore the hub
  // that was there before this one.
  std::unique_ptr<Hub> current = exchange_hub(std::move(inner->previous_));
  hub_->destroy();
  std::unique_ptr<Hub> mine = exchange_hub(std::move(current));
  inner->previous_ = std::move(previous_);
  inner->outer_ = outer_;
}

void Simulation::run_for(absl::Duration d) { gevent::sleep(d); }

void Simulation::run() {
  gevent::wait();
  // Nothing is left to run: a greenlet still blocked never will be.
  if (!hub_->blocked_greenlets().empty()) {
    throw LoopExit(absl::StrCat("This operation would block forever (deadlock at virtual t=",
                                absl::FormatDuration(hub_->elapsed()), ", seed ", hub_->seed(),
                                ")\n", hub_->deadlock_report()));
  }
}

uint64_t SeedFromEnvironment(uint64_t fallback) {
  return environment_seed().value_or(fallback);
}

namespace {

std::unique_ptr<Hub> MakeSimHubFromEnvironment() {
  SimOptions options;
  options.seed = SeedFromEnvironment(0);
  return std::make_unique<SimHub>(options);
}

// Linking //sim makes GEVENT_HUB=sim available.
const bool registered = [] {
  register_hub_factory("sim", &MakeSimHubFromEnvironment);
  return true;
}();

}  // namespace
}  // namespace sim
}  // namespace gevent
