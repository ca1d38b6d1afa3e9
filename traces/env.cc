// GEVENT_TRACE=path (record every hub get_hub() creates) and
// GEVENT_HUB=replay GEVENT_REPLAY=path (replay on the simulated hub), for
// any binary that links //traces.
//
// The n-th hub of the process (n > 1) uses `path.n`. "%p" in GEVENT_TRACE
// stands for the process id. A file another process records into (it holds
// its lock) is left alone: this process records into `path.<pid>` then.
// GEVENT_TRACE naming the file GEVENT_REPLAY replays is refused. Recorders and
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

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "traces/internal/environment.h"
#include "traces/internal/sink.h"
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
    bool diverged = false;
    for (Replayer* r : replayers) {
      const bool was_replaying = r->status() == ReplayStatus::kReplaying;
      ReplayResult result = r->Finish();
      // A divergence was printed when it happened.
      if (was_replaying) fprintf(stderr, "%s\n", result.report.c_str());
      diverged |= result.status == ReplayStatus::kDiverged;
    }
    fflush(stderr);
    // Exit status 3 for a divergence, even when the program caught the
    // Divergence (a catch of std::exception does) and went on to exit.
    if (diverged) _exit(3);
  }
};
thread_local ThreadCloser t_closer;

int g_traced_hubs = 0;
int g_replayed_hubs = 0;

// GEVENT_TRACE with "%p" replaced by the process id ("%%": a "%").
std::string ExpandPattern(const char* pattern) {
  std::string out;
  for (const char* p = pattern; *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      absl::StrAppend(&out, getpid());
      ++p;
    } else if (p[0] == '%' && p[1] == '%') {
      out += '%';
      ++p;
    } else {
      out += *p;
    }
  }
  return out;
}

void RecordFromEnvironment(Hub* hub) {
  const char* base = getenv("GEVENT_TRACE");
  if (base == nullptr || *base == '\0') return;
  const std::string pattern = ExpandPattern(base);
  std::string path = NthPath(pattern.c_str(), &g_traced_hubs);
  RecorderOptions options;
  options.callbacks = internal::BoolFromEnvironment("GEVENT_TRACE_CALLBACKS");
  if (const char* payload = getenv("GEVENT_TRACE_PAYLOAD")) {
    const std::string v = payload;
    uint64_t cap = 0;
    if (v.empty() || v == "all") {
      options.payload_bytes_per_connection = UINT64_MAX;
    } else if (v == "lengths") {
      options.payload_bytes_per_connection = 0;
    } else if (absl::SimpleAtoi(v, &cap)) {
      options.payload_bytes_per_connection = cap;
    } else {
      throw ConfigurationError(absl::StrCat(
          "GEVENT_TRACE_PAYLOAD is '", Printable(v),
          "': expected all, lengths, or a number of bytes per connection"));
    }
  }
  Recorder* rec = nullptr;
  try {
    try {
      rec = new Recorder(hub, path, options);
    } catch (const TraceFileInUse& e) {
      // Another process records into it (parallel test shards, a child
      // that exec'd): never truncate its trace; this one gets its own name.
      const std::string mine = absl::StrCat(path, ".", getpid());
      fprintf(stderr, "geventpp: GEVENT_TRACE: %s; recording into '%s' instead\n",
              e.what(), mine.c_str());
      path = mine;
      rec = new Recorder(hub, path, options);
    }
  } catch (const TraceError& e) {
    const std::string message = absl::StrCat("GEVENT_TRACE: ", e.what());
    internal::NoteRecordingError(message);
    fprintf(stderr, "geventpp: %s\n", message.c_str());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(Mu());
    Keep().push_back(rec);
  }
  t_closer.recorders.push_back(rec);
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
  options.any_build = internal::BoolFromEnvironment("GEVENT_REPLAY_ANY_BUILD");
  if (!options.any_build) {
    const std::string other = OtherBuild(*reader);
    if (!other.empty()) {
      fprintf(stderr, "geventpp: GEVENT_REPLAY: %s\n", other.c_str());
      fflush(stderr);
      exit(2);
    }
  }
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
