// Records an echo service on epoll (10 client threads, 64-byte round trips;
// 100,000 requests by default), then replays the recording on the
// simulator and says whether it was identical and how long each took.
//
//   bazel run -c opt //bench:net_replay_bench -- [REQUESTS] [CONNECTIONS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/gevent.h"
#include "traces/net_programs.h"
#include "traces/reader.h"
#include "traces/recorder.h"
#include "traces/replay.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gevent;
  const int requests = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int connections = argc > 2 ? std::atoi(argv[2]) : 10;
  if (requests <= 0 || connections <= 0) {
    std::fprintf(stderr, "usage: %s [REQUESTS] [CONNECTIONS]\n", argv[0]);
    return 2;
  }
  const char* dir = getenv("TEST_TMPDIR");
  const std::string path =
      std::string(dir != nullptr ? dir : "/tmp") + "/net_replay_bench.gtrace";
  const int per_connection = (requests + connections - 1) / connections;

  auto t0 = std::chrono::steady_clock::now();
  const uint64_t recorded =
      trace::programs::RecordEchoOnEpoll(path, connections, per_connection, 64);
  const double record_s = Seconds(t0);
  uint64_t records = 0, bytes = 0;
  {
    trace::TraceReader reader;
    if (!reader.Open(path)) {
      std::fprintf(stderr, "%s\n", reader.error().c_str());
      return 1;
    }
    trace::Event e;
    while (reader.Next(&e)) ++records;
    bytes = reader.file_size();
  }

  t0 = std::chrono::steady_clock::now();
  uint64_t replayed = 0;
  trace::ReplayResult r;
  {
    trace::Replay replay(path);
    replayed = trace::programs::EchoService(connections, [](uint16_t) {});
    r = replay.Finish();
  }
  const double replay_s = Seconds(t0);
  std::printf("%d requests on %d connections: recorded in %.2f s (%llu records, %.1f MB, "
              "%.0f bytes a request)\n",
              connections * per_connection, connections, record_s,
              static_cast<unsigned long long>(records), bytes / 1e6,
              static_cast<double>(bytes) / (connections * per_connection));
  std::printf("replayed on the simulator in %.2f s: %s; %llu bytes echoed (recorded %llu)\n",
              replay_s, r.report.c_str(), static_cast<unsigned long long>(replayed),
              static_cast<unsigned long long>(recorded));
  return r.status == trace::ReplayStatus::kIdentical && replayed == recorded ? 0 : 1;
}
