// A GoogleTest fixture that runs every test on both hub backends.
//
//   class SleepTest : public gevent::testing::HubTest {};
//   TEST_P(SleepTest, Wakes) { gevent::sleep(absl::Milliseconds(10)); }
//   GEVENT_INSTANTIATE_BACKENDS(SleepTest);
//
// Each test gets a fresh hub of its backend ("epoll", or "sim" with the seed
// from GEVENT_SEED, default 0) as the thread's hub. After the test, the hub
// is destroyed (killing any greenlet still alive) and the test fails if a
// greenlet object created during it is still alive: a leak.
#ifndef GEVENTPP_TESTING_HUB_TEST_H_
#define GEVENTPP_TESTING_HUB_TEST_H_

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "runtime/hub.h"

namespace gevent {
namespace testing {

class HubTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;
  // "epoll" or "sim".
  const std::string& backend() const { return GetParam(); }
  bool simulated() const { return GetParam() == "sim"; }
  Hub* hub() const { return hub_; }

 private:
  Hub* hub_ = nullptr;
  std::unique_ptr<Hub> previous_;
  long greenlets_before_ = 0;
};

// The backends every behaviour test runs on.
std::vector<std::string> AllBackends();

// A new hub of `backend` ("epoll" or "sim"; the simulator's seed from
// GEVENT_SEED, default 0), as HubTest makes one for each test.
std::unique_ptr<Hub> MakeBackendHub(const std::string& backend);

// Runs `body(other)` with a second hub of `backend` installed on this
// thread (as a Simulation's is), then destroys it (killing its greenlets)
// and puts the thread's hub back.
template <typename F>
void WithAnotherHub(const std::string& backend, F&& body) {
  std::unique_ptr<Hub> mine = exchange_hub(MakeBackendHub(backend));
  struct Restore {
    Hub* other;
    std::unique_ptr<Hub>* mine;
    ~Restore() {
      other->destroy();  // while it is the thread's hub
      exchange_hub(std::move(*mine));  // the other hub is freed here
    }
  } restore{get_hub(), &mine};
  body(restore.other);
}

}  // namespace testing
}  // namespace gevent

#define GEVENT_INSTANTIATE_BACKENDS(Suite)                                \
  INSTANTIATE_TEST_SUITE_P(                                               \
      Backends, Suite,                                                    \
      ::testing::ValuesIn(::gevent::testing::AllBackends()),              \
      [](const ::testing::TestParamInfo<std::string>& info) {             \
        return info.param;                                                \
      })

#endif  // GEVENTPP_TESTING_HUB_TEST_H_
