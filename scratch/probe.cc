#include <chrono>
#include <cstdio>
#include "runtime/gevent.h"
static double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main(int argc, char**) {
  for (int round = 0; round < 6; ++round) {
    double t0 = Now();
    std::vector<std::shared_ptr<gevent::Greenlet<void>>> gs;
    gs.reserve(100000);
    for (int i = 0; i < 100000; ++i) gs.push_back(gevent::spawn([i] { gevent::sleep(absl::Milliseconds(i % 100)); }));
    double t1 = Now();
    gevent::joinall(gs);
    double t3 = Now();
    printf("spawn %.1f ms, joinall %.1f ms, total %.1f ms\n", (t1-t0)*1e3, (t3-t1)*1e3, (t3-t0)*1e3);
  }
}
