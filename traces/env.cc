// GEVENT_TRACE=path (record every hub get_hub() creates) and
// GEVENT_HUB=replay GEVENT_REPLAY=path (replay on the simulated hub), for
// any binary that links //traces.
//
// The n-th hub of the process (n > 1) uses `path.n`. Recorders and
// replayers stop when their thread exits, before the thread's hub is
// destroyed, so recording and replay see the same events. They are never
// freed (the hub keeps a pointer to its observer until it is gone).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "traces/recorder.h"
#include "traces/replay.h"

namespace gevent {
namespace trace {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

// Never destroyed: reachable for leak checkers, alive for hubs that outlive
// static destruction.
std::vector<void*>& Keep() {
  static auto* keep = new std::vector<void*>;
  return *keep;
}

std::string NthPath(const char* base, int* counter) {
  std::lock_guard<std::mutex> lock(Mu());
  const int n = ++*counter;
  return n == 1 ? std::string(base) : absl::StrCat(base, ".", n);
}

// Stops this thread's recorders and replayers when the thread exits.
struct ThreadCloser {
  std::vector<Recorder*> recorders;
  std::vector<Replayer*> replayers;
  ~ThreadCloser() {
    for (Recorder* r : recorders) r->CloseFile();
    for (Replayer* r : replayers) {
      const bool was_replaying = r->status() == ReplayStatus::kReplaying;
      ReplayResult result = r->Finish();
      // A divergence was printed when it happened.
      if (was_replaying) fprintf(stderr, "%s\n", result.report.c_str());
    }
    fflush(stderr);
  }
};
thread_local ThreadCloser t_closer;

// GEVENT_TRACE_CALLBACKS: 1/true/yes/on, or 0/false/no/off (or unset).
bool TraceCallbacksFromEnvironment() {
  const char* cb = getenv("GEVENT_TRACE_CALLBACKS");
  if (cb == nullptr || *cb == '\0') return false;
  const std::string v = absl::AsciiStrToLower(cb);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw ConfigurationError(absl::StrCat("GEVENT_TRACE_CALLBACKS=\"", cb,
                                        "\" is not a boolean (1, true, yes, on, 0, false, no, off)"));
}

int g_traced_hubs = 0;
int g_replayed_hubs = 0;

void RecordFromEnvironment(Hub* hub) {
  const char* base = getenv("GEVENT_TRACE");
  if (base == nullptr || *base == '\0') return;
  const std::string path = NthPath(base, &g_traced_hubs);
  try {
    RecorderOptions options;
    options.callbacks = TraceCallbacksFromEnvironment();
    auto* rec = new Recorder(hub, path, options);
    {
      std::lock_guard<std::mutex> lock(Mu());
      Keep().push_back(rec);
    }
    t_closer.recorders.push_back(rec);
  } catch (const TraceError& e) {
    fprintf(stderr, "geventpp: GEVENT_TRACE: %s\n", e.what());
  }
}

std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void OnTerminate() {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const Divergence&) {
      fflush(stderr);
      _exit(3);  // the report was printed when replay stopped
    } catch (...) {
    }
  }
  if (g_previous_terminate != nullptr) g_previous_terminate();
  abort();
}

std::unique_ptr<Hub> ReplayFromEnvironment() {
  const char* base = getenv("GEVENT_REPLAY");
  if (base == nullptr || *base == '\0') {
    throw ConfigurationError("GEVENT_HUB=replay needs GEVENT_REPLAY=<trace file>");
  }
  const std::string path = NthPath(base, &g_replayed_hubs);
  auto reader = std::make_unique<TraceReader>();
  if (!reader->Open(path)) {
    // Nothing sensible can run: say why in one line and stop.
    fprintf(stderr, "geventpp: GEVENT_REPLAY: %s\n", Printable(reader->error()).c_str());
    fflush(stderr);
    exit(2);
  }
  ReplayOptions options;
  options.print = true;
  auto* replayer = new Replayer(std::move(reader), options);
  {
    std::lock_guard<std::mutex> lock(Mu());
    Keep().push_back(replayer);
    if (g_previous_terminate == nullptr) {
      g_previous_terminate = std::set_terminate(&OnTerminate);
    }
  }
  t_closer.replayers.push_back(replayer);
  return replayer->MakeHub();
}

const bool registered = [] {
  register_hub_init_hook(&RecordFromEnvironment);
  register_hub_factory("replay", &ReplayFromEnvironment);
  return true;
}();

}  // namespace
}  // namespace trace
}  // namespace gevent
