// Boolean environment variables of the traces (GEVENT_TRACE_CALLBACKS,
// GEVENT_REPLAY_ANY_BUILD).
#ifndef GEVENTPP_TRACES_INTERNAL_ENVIRONMENT_H_
#define GEVENTPP_TRACES_INTERNAL_ENVIRONMENT_H_

namespace gevent {
namespace trace {
namespace internal {

// 1/true/yes/on, or 0/false/no/off (or unset: false); anything else
// throws ConfigurationError naming the variable.
bool BoolFromEnvironment(const char* name);

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_ENVIRONMENT_H_
