// The thread's hub: get_hub() (created on first use, of the backend
// GEVENT_HUB names), destroy_hub(), exchange_hub(), the backend registry
// and the hooks run on every new thread hub. Included by hub.h.
#ifndef GEVENTPP_RUNTIME_HUB_REGISTRY_H_
#define GEVENTPP_RUNTIME_HUB_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/hub.h"

namespace gevent {

namespace internal {
// The calling thread's hub (the same as the owner held in hub.cc), read on
// every blocking call: a plain thread_local pointer, no initialisation guard.
inline thread_local Hub* t_hub_ptr = nullptr;
Hub* CreateThreadHub();
}  // namespace internal

// The hub of the calling thread, created on first use. The backend is the
// one selected by set_hub_factory(), else by the environment variable
// GEVENT_HUB ("epoll", the default, or "sim" when the simulator is linked).
inline Hub* get_hub() {
  Hub* h = internal::t_hub_ptr;
  return h != nullptr ? h : internal::CreateThreadHub();
}
// The calling thread's hub if it exists, else nullptr.
inline Hub* get_hub_if_exists() { return internal::t_hub_ptr; }
// Destroys the calling thread's hub (see Hub::destroy). The next get_hub()
// creates a fresh one.
void destroy_hub();
// Makes `hub` the calling thread's hub (destroying the previous one). Used by
// sim::Simulation; returns the previous hub, still alive, to restore later.
std::unique_ptr<Hub> exchange_hub(std::unique_ptr<Hub> hub);

// Functions run on every hub that get_hub() creates on first use (after it is
// installed as the thread's hub). traces/ uses this for GEVENT_TRACE=path.
using HubInitHook = void (*)(Hub* hub);
void register_hub_init_hook(HubInitHook hook);

// A factory for hubs, registered by name (the epoll backend registers "epoll";
// linking //sim registers "sim").
using HubFactory = std::unique_ptr<Hub> (*)();
void register_hub_factory(const char* name, HubFactory factory);
// Creates a hub of the named backend; throws std::invalid_argument naming the
// backend if none is registered under that name.
std::unique_ptr<Hub> make_hub(const std::string& backend);

// The seed in GEVENT_SEED, for the simulated hubs it makes: std::nullopt when
// it is unset or empty; ConfigurationError naming the value when it is not a
// non-negative integer or is out of range. A process that creates a hub with
// GEVENT_SEED set but never asks for the seed here (an epoll program, or
// GEVENT_HUB not set to sim) gets one line on stderr at exit saying the seed
// was ignored: a seed meant to reproduce a simulated run never vanishes
// silently.
std::optional<uint64_t> environment_seed();

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_HUB_REGISTRY_H_
