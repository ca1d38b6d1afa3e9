// The geventpp demo: the same greenlet code, run once on the real epoll hub
// and once on the simulated hub, where its seconds of sleeping take no time.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"

namespace {

// Three workers sleep for different times; a fourth is too slow for its
// Timeout; joinall waits for them all.
void Demo() {
  gevent::Hub* hub = gevent::get_hub();
  const absl::Time start = hub->now();
  auto stamp = [&] {
    return absl::StrFormat("[t=%4dms]",
                           absl::ToInt64Milliseconds(hub->now() - start));
  };

  auto worker = [&](std::string name, absl::Duration nap) {
    printf("%s %s starts, sleeps %s\n", stamp().c_str(), name.c_str(),
           absl::FormatDuration(nap).c_str());
    gevent::sleep(nap);
    printf("%s %s done\n", stamp().c_str(), name.c_str());
    return name.size();
  };
  std::vector<std::shared_ptr<gevent::GreenletBase>> gs;
  gs.push_back(gevent::spawn(worker, std::string("alpha"), absl::Milliseconds(300)));
  gs.push_back(gevent::spawn(worker, std::string("beta"), absl::Milliseconds(100)));
  gs.push_back(gevent::spawn(worker, std::string("gamma"), absl::Milliseconds(200)));
  gs.push_back(gevent::spawn([&] {
    try {
      gevent::TimeoutScope limit(absl::Milliseconds(150));
      printf("%s slowpoke starts a 2s job with a 150ms timeout\n", stamp().c_str());
      gevent::sleep(absl::Seconds(2));
    } catch (const gevent::TimeoutError& e) {
      printf("%s slowpoke timed out after %s\n", stamp().c_str(), e.what());
    }
  }));
  printf("%s main: spawned %zu greenlets, joining\n", stamp().c_str(), gs.size());
  gevent::joinall(gs);
  printf("%s main: all done\n", stamp().c_str());
}

double WallMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

int main() {
  auto t0 = std::chrono::steady_clock::now();
  printf("== on the epoll hub (real time)\n");
  Demo();
  printf("   wall time: %.0f ms\n\n", WallMs(t0));

  auto t1 = std::chrono::steady_clock::now();
  printf("== on the simulated hub (virtual time, seed 0)\n");
  {
    gevent::sim::Simulation sim(/*seed=*/0);
    Demo();
    printf("   virtual time: %s, ", absl::FormatDuration(sim.elapsed()).c_str());
  }
  printf("wall time: %.2f ms\n", WallMs(t1));
  return 0;
}
