#include "sim/simulation.h"

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

Simulation::Simulation(SimOptions options) {
  auto hub = std::make_unique<SimHub>(options);
  hub_ = hub.get();
  previous_ = exchange_hub(std::move(hub));
}

Simulation::~Simulation() {
  // Destroy while still installed: greenlets unwinding now (finally blocks,
  // destructors) that call get_hub() must find this hub, not the previous.
  hub_->destroy();
  std::unique_ptr<Hub> mine = exchange_hub(std::move(previous_));
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
  const char* env = getenv("GEVENT_SEED");
  if (env == nullptr || *env == '\0') return fallback;
  uint64_t seed;
  if (!absl::SimpleAtoi(env, &seed)) {
    const std::string v = env;
    const bool digits = v.find_first_not_of("0123456789") == std::string::npos;
    throw ConfigurationError(absl::StrCat(
        "GEVENT_SEED=\"", env, "\" is ",
        digits ? "out of range (at most 18446744073709551615)" : "not a non-negative integer"));
  }
  return seed;
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
