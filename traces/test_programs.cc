#include "traces/test_programs.h"

#include <memory>
#include <stdexcept>
#include <vector>

#include "runtime/gevent.h"
#include "traces/recorder.h"

namespace gevent {
namespace trace {
namespace programs {

// Shared state lives on the heap, held by every greenlet that uses it: if
// the main greenlet leaves early (a replay's Divergence), the others still
// find it until the hub kills them.
int Workers(absl::Duration nap) {
  struct State {
    gevent::Event go;
    Queue<int> q{2};
    Semaphore sem{2};
    int linked = 0;
  };
  auto st = std::make_shared<State>();
  std::vector<std::shared_ptr<GreenletBase>> gs;
  for (int i = 0; i < 4; ++i) {
    auto g = spawn([st, i, nap] {
      st->go.wait();
      ScopedAcquire hold(st->sem);
      sleep(nap * (2 + 3 * (i % 3)));
      st->q.put(i * 10);
      return i;
    });
    g->link([st](GreenletBase&) { ++st->linked; });
    gs.push_back(g);
  }
  auto consumer = spawn([st] {
    int sum = 0;
    for (int k = 0; k < 4; ++k) sum += st->q.get();
    return sum;
  });
  auto slow = spawn([nap] {
    try {
      TimeoutScope limit(nap * 5);
      sleep(absl::Seconds(10));
      return 0;
    } catch (const TimeoutError&) {
      return 1;
    }
  });
  auto victim = spawn([] { sleep(absl::Seconds(10)); });
  victim->set_name("victim");
  sleep(nap);
  st->go.set();
  victim->kill();
  gs.push_back(consumer);
  gs.push_back(slow);
  gs.push_back(victim);
  joinall(gs);
  return consumer->get() + slow->get() * 1000 + st->linked * 10000;
}

int EventRelay(int n) {
  constexpr int kRing = 4;
  struct State {
    gevent::Event e[kRing];
    int passes = 0;
    bool done = false;
  };
  auto st = std::make_shared<State>();
  std::vector<std::shared_ptr<GreenletBase>> gs;
  for (int i = 0; i < kRing; ++i) {
    gs.push_back(spawn([st, i, n] {
      const absl::Duration timeout =
          i % 2 == 0 ? absl::InfiniteDuration() : absl::Seconds(30);
      for (;;) {
        st->e[i].wait(timeout);
        st->e[i].clear();
        if (st->done) break;
        if (++st->passes >= n) st->done = true;
        if (st->passes % 3 == 0) sleep();
        st->e[(i + 1) % kRing].set();
        if (st->done) {
          for (auto& e : st->e) e.set();
          break;
        }
      }
    }));
  }
  gs.push_back(spawn([st] {
    while (!st->done) sleep(absl::Microseconds(300));
  }));
  st->e[0].set();
  joinall(gs);
  return st->passes;
}

void PingPong(int n) {
  auto stop = std::make_shared<bool>(false);
  auto partner = spawn([stop] {
    while (!*stop) sleep();
  });
  for (int i = 0; i < n; ++i) sleep();
  *stop = true;
  partner->join();
}

int Failing(absl::Duration nap) {
  std::vector<std::shared_ptr<GreenletBase>> gs;
  gs.push_back(spawn([nap] {
    for (int i = 0; i < 4; ++i) sleep(nap * 2);
    return 1;
  }));
  auto bad = spawn([nap] {
    for (int i = 0; i < 3; ++i) sleep(nap);
    note("about to write the report");
    throw std::runtime_error("disk on fire");
    return 0;
  });
  bad->set_name("reporter");
  gs.push_back(bad);
  gs.push_back(spawn([nap] {
    sleep(nap);
    sleep(nap * 4);
    return 3;
  }));
  joinall(gs);
  int ok = 0;
  for (auto& g : gs) ok += g->successful() ? 1 : 0;
  return ok;
}

int Race() {
  auto counter = std::make_shared<int>(0);
  std::vector<std::shared_ptr<GreenletBase>> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(spawn([counter] {
      sleep(absl::Milliseconds(10));
      const int v = *counter;
      sleep(absl::Milliseconds(1));
      *counter = v + 1;
    }));
  }
  joinall(gs);
  return *counter;
}

int BusyUntilTimer(absl::Duration d, absl::Duration interval) {
  get_hub()->set_switch_interval(interval);
  auto flag = std::make_shared<bool>(false);
  auto timer = spawn([flag, d] {
    sleep(d);
    *flag = true;
  });
  int loops = 0;
  while (!*flag) {
    sleep();
    ++loops;
  }
  timer->join();
  return loops;
}

void Naps(int n, absl::Duration nap) {
  for (int i = 0; i < n; ++i) sleep(nap);
}

}  // namespace programs
}  // namespace trace
}  // namespace gevent
