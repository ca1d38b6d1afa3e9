// Simulation: run the current thread's greenlets on a SimHub.
//
// example-prelude: int Work();
//   TEST(MyRace, Seed) {
//     gevent::sim::Simulation sim(/*seed=*/42);
//     auto g = gevent::spawn(Work);    // the same code as on epoll
//     sim.run_for(absl::Hours(1));     // an hour of virtual time, instantly
//     EXPECT_EQ(g->get(), 42);
//   }
//
// While a Simulation exists, get_hub() on its thread returns its SimHub; when
// it is destroyed, every greenlet still alive on it is killed and the
// thread's previous hub comes back. Simulations may nest, and may be
// destroyed in any order on the thread that made them: destroying one made
// before another that is still alive kills its greenlets and leaves the
// newer one's hub installed (the newer one then restores the hub that was
// there before both).
//
// A whole test binary can also run on the simulator without changes: set
// GEVENT_HUB=sim (and GEVENT_SEED=N) in the environment, and every hub
// created on first use is a SimHub (link //sim into the binary).
#ifndef GEVENTPP_SIM_SIMULATION_H_
#define GEVENTPP_SIM_SIMULATION_H_

#include <cstdint>
#include <memory>

#include "absl/time/time.h"
#include "sim/sim_hub.h"

namespace gevent {
namespace sim {

class Simulation {
 public:
  explicit Simulation(uint64_t seed = 0);
  explicit Simulation(SimOptions options);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  SimHub* hub() const { return hub_; }
  uint64_t seed() const { return hub_->seed(); }
  // The virtual time now, and how much has passed since the start.
  absl::Time now() const { return hub_->now(); }
  absl::Duration elapsed() const { return hub_->elapsed(); }
  // Runs the simulation (from the calling greenlet) for `d` of virtual time.
  void run_for(absl::Duration d);
  // Runs until no referenced work is left (gevent::wait()). Throws
  // LoopExit, naming every blocked greenlet, the virtual time and the seed,
  // if greenlets are still blocked then: nothing can ever wake them.
  void run();
  uint64_t event_hash() const { return hub_->event_hash(); }

 private:
  SimHub* hub_;
  std::unique_ptr<Hub> previous_;  // the hub installed before this one
  Simulation* outer_ = nullptr;    // the Simulation made before, if alive
};

// The seed from GEVENT_SEED, or `fallback` if it is unset. Throws
// std::invalid_argument naming the value if it is not a number.
uint64_t SeedFromEnvironment(uint64_t fallback = 0);

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_SIMULATION_H_
