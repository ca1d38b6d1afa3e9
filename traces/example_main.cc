// A small program for trying traces (README, "Record, replay, timeline"):
//
//   GEVENT_TRACE=/tmp/w.gtrace bazel-bin/traces/example workers   # record (epoll)
//   GEVENT_HUB=replay GEVENT_REPLAY=/tmp/w.gtrace bazel-bin/traces/example workers
//   GEVENT_HUB=sim GEVENT_SEED=7 GEVENT_TRACE=/tmp/r.gtrace bazel-bin/traces/example race
//
// Programs: workers, failing, race, pingpong [N], naps [N], notes [N].
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "traces/recorder.h"
#include "traces/test_programs.h"

int main(int argc, char** argv) {
  namespace p = gevent::trace::programs;
  const std::string what = argc > 1 ? argv[1] : "workers";
  const int n = argc > 2 ? atoi(argv[2]) : 100;
  if (what == "workers") {
    printf("workers: %d\n", p::Workers(absl::Milliseconds(2)));
  } else if (what == "failing") {
    printf("failing: %d succeeded\n", p::Failing(absl::Milliseconds(2)));
  } else if (what == "race") {
    printf("race: counter %d\n", p::Race());
  } else if (what == "pingpong") {
    p::PingPong(n);
    printf("pingpong: %d\n", n);
  } else if (what == "naps") {
    p::Naps(n);
    printf("naps: %d\n", n);
  } else if (what == "notes") {
    // N notes of 16 KiB: a large trace of few records (tool_test's
    // Memory.ReplayHoldsSteadyOnALargeTrace).
    for (int i = 0; i < n; ++i) {
      gevent::trace::note(std::string(16 * 1024, static_cast<char>('a' + i % 26)));
      gevent::sleep();
    }
    printf("notes: %d\n", n);
  } else if (what == "naps-caught") {
    // As a program that catches every std::exception, a replay's
    // Divergence included.
    try {
      p::Naps(n);
    } catch (const std::exception& e) {
      fprintf(stderr, "naps-caught: %s\n", e.what());
      return 1;
    }
  } else {
    fprintf(stderr, "usage: example workers|failing|race|pingpong [N]|naps [N]|naps-caught [N]|notes [N]\n");
    return 2;
  }
  return 0;
}
