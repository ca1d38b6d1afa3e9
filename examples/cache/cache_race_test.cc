// The cache as shipped (CacheOptions::guard_fills off) under the explorer:
// this test fails, on purpose. tools/demo.sh runs it to show the whole
// loop: the failing schedule, its repro line, the shrunk schedule, the
// trace. It is tagged manual, so `bazel test //...` leaves it out;
// cache_sim_test.cc checks, in the suite, that the explorer finds it.
#include "examples/cache/scenario.h"
#include "testing/explore.h"

GEVENT_SIM_TEST(CacheRace, ReadsSeeAcknowledgedWrites) {
  cache::ReadsSeeAcknowledgedWrites(/*guard_fills=*/false);
}

GEVENT_SIM_TEST(CacheFixed, ReadsSeeAcknowledgedWrites) {
  cache::ReadsSeeAcknowledgedWrites(/*guard_fills=*/true);
}
