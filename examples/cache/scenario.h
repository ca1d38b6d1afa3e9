// The cache's promise, checked on the simulated network: a store, the cache
// in front of it, a writer and two readers on their own hosts, with the
// seed's latencies and split sends. Every GET that starts after a SET of
// its key was acknowledged must return that value or a newer one.
//
// The explorer runs it (cache_sim_test.cc, cache_race_test.cc):
//   GEVENT_SIM_TEST(CacheRace, ReadsSeeAcknowledgedWrites) {
//     cache::ReadsSeeAcknowledgedWrites(/*guard_fills=*/false);
//   }
#ifndef GEVENTPP_EXAMPLES_CACHE_SCENARIO_H_
#define GEVENTPP_EXAMPLES_CACHE_SCENARIO_H_

namespace cache {

// Runs the scenario in the current simulation (its network), with
// CacheOptions::guard_fills as given. Reports a broken promise as a gtest
// failure.
void ReadsSeeAcknowledgedWrites(bool guard_fills);

}  // namespace cache

#endif  // GEVENTPP_EXAMPLES_CACHE_SCENARIO_H_
