#include "testing/hub_test.h"

#include "runtime/raw_greenlet.h"
#include "sim/simulation.h"

namespace gevent {
namespace testing {

std::vector<std::string> AllBackends() { return {"epoll", "sim"}; }

std::unique_ptr<Hub> MakeBackendHub(const std::string& backend) {
  if (backend == "sim") {
    sim::SimOptions options;
    options.seed = sim::SeedFromEnvironment(0);
    return std::make_unique<sim::SimHub>(options);
  }
  return make_hub(backend);
}

void HubTest::SetUp() {
  greenlets_before_ = RawGreenlet::live_count();
  std::unique_ptr<Hub> hub = MakeBackendHub(GetParam());
  hub_ = hub.get();
  previous_ = exchange_hub(std::move(hub));
}

void HubTest::TearDown() {
  hub_->destroy();  // while still the thread's hub (see sim::Simulation)
  std::unique_ptr<Hub> mine = exchange_hub(std::move(previous_));
  mine.reset();
  EXPECT_EQ(RawGreenlet::live_count(), greenlets_before_)
      << "greenlet objects leaked by this test (still referenced after the "
         "hub was destroyed)";
}

}  // namespace testing
}  // namespace gevent
