// The thread's hub: the backend registry (GEVENT_HUB), get_hub()'s slow
// path, destroy_hub, exchange_hub and the init hooks.
#include "runtime/hub.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/internal/hub_check.h"
#include "runtime/internal/epoll_backend.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

// ---------------------------------------------------------------- registry

namespace {

struct FactoryEntry {
  std::string name;
  HubFactory factory;
};

std::mutex& FactoryMutex() {
  static std::mutex mu;
  return mu;
}

std::vector<FactoryEntry>& Factories() {
  static std::vector<FactoryEntry> factories{
      {"epoll", &internal::MakeEpollHub}};
  return factories;
}

// The thread's hub. At thread exit it is destroyed, unless the thread ends
// from inside a greenlet (exit() called in a greenlet, or in a forked
// child's): the code running then is on a stack of the hub's pool, so the
// hub and its stacks are left for the process's end, not unmapped under
// the running code.
struct ThreadHub {
  std::unique_ptr<Hub> hub;
  ~ThreadHub() {
    if (hub != nullptr && hub->current() != hub->main_greenlet()) {
      (void)hub.release();  // still reachable: t_hub_ptr keeps pointing at it
    }
  }
};
thread_local ThreadHub t_thread_hub;

// An uncaught ConfigurationError (a bad GEVENT_* value) ends the program
// with its one-line message and exit status 2, not a core dump.
std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void OnTerminate() {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const ConfigurationError& error) {
      fprintf(stderr, "geventpp: %s\n", error.what());
      fflush(stderr);
      _exit(2);
    } catch (...) {
    }
  }
  if (g_previous_terminate != nullptr) g_previous_terminate();
  abort();
}

const bool terminate_installed = [] {
  g_previous_terminate = std::set_terminate(&OnTerminate);
  return true;
}();

}  // namespace

void register_hub_factory(const char* name, HubFactory factory) {
  std::lock_guard<std::mutex> lock(FactoryMutex());
  for (auto& e : Factories()) {
    if (e.name == name) {
      e.factory = factory;
      return;
    }
  }
  Factories().push_back({name, factory});
}

std::unique_ptr<Hub> make_hub(const std::string& backend) {
  HubFactory factory = nullptr;
  std::string known;
  {
    std::lock_guard<std::mutex> lock(FactoryMutex());
    for (auto& e : Factories()) {
      if (e.name == backend) factory = e.factory;
      absl::StrAppend(&known, known.empty() ? "" : ", ", e.name);
    }
  }
  if (factory == nullptr) {
    throw ConfigurationError(absl::StrCat(
        "unknown hub backend \"", backend, "\" (GEVENT_HUB); known: ", known,
        backend == "sim" ? " (link //sim to get the simulated hub)" : ""));
  }
  return factory();
}


namespace {
std::vector<HubInitHook>& InitHooks() {
  static std::vector<HubInitHook> hooks;
  return hooks;
}
}  // namespace

void register_hub_init_hook(HubInitHook hook) {
  std::lock_guard<std::mutex> lock(FactoryMutex());
  InitHooks().push_back(hook);
}

namespace {

// Whether anything asked for GEVENT_SEED (environment_seed()).
std::atomic<bool> g_seed_read{false};

void WarnIfSeedIgnored() {
  const char* seed = getenv("GEVENT_SEED");
  if (g_seed_read.load() || seed == nullptr || *seed == '\0') return;
  const char* hub = getenv("GEVENT_HUB");
  std::fprintf(stderr,
               "geventpp: GEVENT_SEED=%s was ignored: no simulated hub asked for it "
               "(GEVENT_HUB=%s; set GEVENT_HUB=sim to run on the simulator)\n",
               seed, hub != nullptr && *hub != '\0' ? hub : "epoll, the default");
}

// Arranges the check above once a process makes a hub with GEVENT_SEED set.
void WatchForAnIgnoredSeed() {
  static std::once_flag once;
  const char* seed = getenv("GEVENT_SEED");
  if (seed == nullptr || *seed == '\0') return;
  std::call_once(once, [] { std::atexit(&WarnIfSeedIgnored); });
}

}  // namespace

std::optional<uint64_t> environment_seed() {
  g_seed_read.store(true);
  const char* env = getenv("GEVENT_SEED");
  if (env == nullptr || *env == '\0') return std::nullopt;
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

Hub* internal::CreateThreadHub() {
  if (t_thread_hub.hub == nullptr) {
    WatchForAnIgnoredSeed();
    const char* env = getenv("GEVENT_HUB");
    t_thread_hub.hub = make_hub(env != nullptr && *env != '\0' ? env : "epoll");
    internal::t_hub_ptr = t_thread_hub.hub.get();
    std::vector<HubInitHook> hooks;
    {
      std::lock_guard<std::mutex> lock(FactoryMutex());
      hooks = InitHooks();
    }
    for (HubInitHook hook : hooks) hook(t_thread_hub.hub.get());
  }
  return t_thread_hub.hub.get();
}

void destroy_hub() {
  if (t_thread_hub.hub == nullptr) return;
  if (t_thread_hub.hub->current() != t_thread_hub.hub->main_greenlet()) {
    // The hub would free the stack this call runs on.
    throw std::logic_error(absl::StrCat(
        "destroy_hub() called from ",
        t_thread_hub.hub->in_hub() ? "a hub callback" : "greenlet '" + t_thread_hub.hub->current()->name() + "'",
        ": call it from the main greenlet (the thread's own stack)"));
  }
  t_thread_hub.hub->destroy();
  t_thread_hub.hub.reset();
  internal::t_hub_ptr = nullptr;
}

std::unique_ptr<Hub> exchange_hub(std::unique_ptr<Hub> hub) {
  std::unique_ptr<Hub> old = std::move(t_thread_hub.hub);
  t_thread_hub.hub = std::move(hub);
  internal::t_hub_ptr = t_thread_hub.hub.get();
  if (internal::t_hub_ptr != nullptr) {
    internal::t_hub_ptr->thread_id_ = static_cast<int>(gettid());
  }
  return old;
}

void internal::ThrowInvalidThreadUse(absl::string_view object,
                                     const char* method, const Hub* owner) {
  const Hub* caller = internal::t_hub_ptr;
  const int thread = static_cast<int>(gettid());
  throw InvalidThreadUseError(absl::StrCat(
      object, ".", method, ": this ", object, " belongs to hub ", owner->id(), " (thread ",
      owner->thread_id(), "), used from ",
      caller != nullptr
          ? absl::StrCat("hub ", caller->id(), " (thread ", thread, ")")
          : absl::StrCat("thread ", thread, ", which has no hub"),
      ": an object may be used only by greenlets of its own hub (hand work "
      "over with Hub::run_callback_threadsafe; see docs/api.md, Threads)"));
}

}  // namespace gevent
