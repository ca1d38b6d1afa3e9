#include "sim/sim_hub.h"

#include <memory>
#include <utility>

namespace gevent {
namespace sim {

SimHub::SimHub(SimOptions options)
    : Hub(std::make_unique<SimBackend>(options.epoch)),
      options_(options),
      clock_(static_cast<SimBackend*>(&backend())),
      seeded_(options.seed, options.max_jitter),
      digest_(options.epoch) {
  set_scheduling_policy(&seeded_);
  set_event_digest(&digest_);
  now();  // the hub's cached loop time starts at the epoch
}

// The greenlets are killed while the policy still exists: killing them
// may start timers.
SimHub::~SimHub() {
  ShutdownForDestruction();
  set_event_digest(nullptr);
}

void SimHub::set_decision_source(DecisionSource source) {
  seeded_.set_decision_source(std::move(source));
  if (scheduling_policy() == &seeded_) set_scheduling_policy(&seeded_);
}

void SimHub::set_lateness_source(LatenessSource source) {
  seeded_.set_lateness_source(std::move(source));
  if (scheduling_policy() == &seeded_) set_scheduling_policy(&seeded_);
}

}  // namespace sim
}  // namespace gevent
