// buggify(): marks a point where code may take a rare path under
// simulation (FoundationDB's BUGGIFY).
//
//   char buf[4096];
//   size_t chunk = sizeof buf;
//   if (gevent::buggify()) chunk = 1;          // a short read, now and then
//   if (gevent::buggify()) gevent::sleep(absl::Milliseconds(200));
//
// On the epoll hub (and on a simulator with seed 0: whenever the hub's
// scheduling policy does not perturb) it is always false, at the cost of one
// predictable branch. On a simulator with a seed, each point
// (its file and line) is switched on or off once per run, on for a quarter
// of the points; a point that is on fires on a quarter of its evaluations.
// Both choices are hub decision points (Decision::kBuggify): traces record
// them, replay repeats them, the explorer can drive them and the shrinker
// can turn them off.
#ifndef GEVENTPP_RUNTIME_BUGGIFY_H_
#define GEVENTPP_RUNTIME_BUGGIFY_H_

#include "absl/base/optimization.h"
#include "runtime/hub.h"
#include "runtime/hub_backend.h"

namespace gevent {

inline bool buggify(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  Hub* hub = get_hub_if_exists();
  if (ABSL_PREDICT_TRUE(hub == nullptr || !hub->perturbs())) return false;
  return hub->backend().Buggify(file, line);
}

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_BUGGIFY_H_
