// The hand-off (docs/design.md, Hub::TryHandOff) must not change anything a
// program or an observer can see. The first test compares schedules, so it
// runs on the simulator (an epoll schedule depends on timing; epoll runs are
// compared with the simulator in traces/replay_test.cc); the others run on
// both backends. The first test: the same program, on the simulator with
// the same seed, gives the same log, the same schedule hash and the same
// event stream (callback events included) with hand-offs on and off. The
// program is random (a fixed generator per seed) and mixes everything the
// hand-off touches or must leave to the hub: sleep(0), Event waits with and
// without a timeout, set() and clear() in any order, a Semaphore, a bounded
// Queue, timed sleeps, kills and greenlets that end right after waking.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/random.h"
#include "sim/simulation.h"

namespace gevent {
namespace {

using absl::Microseconds;
using absl::Milliseconds;

struct Events : HubObserver {
  std::vector<std::string> seen;
  void OnHubEvent(const HubEvent& e) override {
    seen.push_back(absl::StrCat(static_cast<int>(e.kind), ":", e.greenlet, ":",
                                e.a, ":", e.b, ":", e.c, "@", e.time_ns));
  }
};

struct Outcome {
  std::vector<std::string> log;
  std::vector<std::string> events;
  uint64_t hash = 0;
};

Outcome RunRandomProgram(uint64_t seed, bool hand_offs) {
  sim::Simulation simulation(seed);
  Hub* hub = get_hub();
  hub->set_hand_offs(hand_offs);
  Events events;
  hub->set_observer(&events);
  struct World {
    Event e[3];
    Semaphore sem{2};
    Queue<int> q{3};
    std::vector<std::string> log;
    std::vector<std::shared_ptr<GreenletBase>> children;
    bool done = false;
  };
  auto w = std::make_shared<World>();
  auto rng = std::make_shared<sim::SplitMix64>(seed * 7919 + 1);
  auto worker = [w, rng](int id) {
    for (int step = 0; step < 150; ++step) {
      const auto r = rng->Below(12);
      Event& e = w->e[rng->Below(3)];
      std::string got;
      switch (r) {
        case 0:
        case 1:
          sleep();
          break;
        case 2:
          e.set();
          break;
        case 3:
          e.clear();
          break;
        case 4:
          got = e.wait() ? "T" : "F";  // the ticker sets it soon
          break;
        case 5:
          got = e.wait(Microseconds(300)) ? "T" : "F";
          break;
        case 6:
          if (w->sem.acquire(true, Milliseconds(1))) {
            sleep();
            w->sem.release();
            got = "acq";
          }
          break;
        case 7:
          try {
            w->q.put(step, true, Microseconds(500));
          } catch (const QueueFull&) {
            got = "full";
          }
          break;
        case 8:
          try {
            got = absl::StrCat(w->q.get(true, Microseconds(500)));
          } catch (const QueueEmpty&) {
            got = "empty";
          }
          break;
        case 9:
          sleep(Microseconds(100 * static_cast<int64_t>(rng->Below(20))));
          break;
        case 10:
          // A child that ends as soon as it wakes (hands a pass back to
          // the hub when it was woken in place).
          w->children.push_back(spawn([w, &e] {
            e.wait();
            w->log.push_back("child woke");
          }));
          break;
        case 11:
          if (!w->children.empty()) {
            w->children[rng->Below(w->children.size())]->kill(false);
            got = "kill";
          }
          break;
      }
      w->log.push_back(absl::StrCat(id, "/", step, "/", r, "/", got));
    }
  };
  std::vector<std::shared_ptr<GreenletBase>> workers;
  for (int i = 0; i < 6; ++i) workers.push_back(spawn(worker, i));
  auto ticker = spawn([w] {
    while (!w->done) {
      sleep(Microseconds(700));
      for (auto& e : w->e) e.set();
    }
  });
  joinall(workers);
  w->done = true;
  ticker->join();
  for (auto& e : w->e) e.set();
  joinall(w->children);
  hub->set_observer(nullptr);
  Outcome out;
  out.log = std::move(w->log);
  out.events = std::move(events.seen);
  out.hash = simulation.event_hash();
  return out;
}

TEST(HandOff, SameScheduleAndEventsWithAndWithout) {
  for (uint64_t seed = 0; seed < 24; ++seed) {
    Outcome on = RunRandomProgram(seed, true);
    Outcome off = RunRandomProgram(seed, false);
    ASSERT_GT(on.log.size(), 800u) << "seed " << seed;
    EXPECT_EQ(on.log, off.log) << "seed " << seed;
    ASSERT_EQ(on.events.size(), off.events.size()) << "seed " << seed;
    for (size_t i = 0; i < on.events.size(); ++i) {
      ASSERT_EQ(on.events[i], off.events[i])
          << "seed " << seed << ", event " << i;
    }
    EXPECT_EQ(on.hash, off.hash) << "seed " << seed;
  }
}

// Runs `body` on the thread's epoll hub (hand-offs restored after), then in
// a simulation.
// Runs `body(on)` with hand-offs on and off, on the thread's epoll hub and
// then each in a fresh simulation (a fresh one each time, so that both start
// from the same state), and returns what it returned, in that order: epoll
// on, epoll off, sim on, sim off.
template <typename F>
std::vector<uint64_t> OnBothBackends(F&& body) {
  std::vector<uint64_t> out;
  for (bool on : {true, false}) {
    get_hub()->set_hand_offs(on);
    out.push_back(body(on));
  }
  get_hub()->set_hand_offs(true);
  for (bool on : {true, false}) {
    sim::Simulation simulation(0);
    get_hub()->set_hand_offs(on);
    out.push_back(body(on));
  }
  return out;
}

// Greenlets busy in sleep(0) never let the hub's loop end its callback pass
// by itself: the hub must still check its budget every 256 callbacks (the
// switch interval on epoll; on the simulator a pass of 2^20 callbacks costs
// a switch interval), so the timer fires. On the simulator, after the same
// number of yields either way.
TEST(HandOff, BusyYieldersStillLetTimersFire) {
  std::vector<uint64_t> yields = OnBothBackends([](bool) {
    bool fired = false;
    uint64_t n = 0;
    auto spin = [&fired, &n] {
      while (!fired && n < 20000000) {
        ++n;
        sleep();
      }
    };
    auto a = spawn(spin);
    auto b = spawn(spin);
    auto t = spawn([&fired] {
      sleep(Milliseconds(1));
      fired = true;
    });
    joinall(std::vector<std::shared_ptr<GreenletBase>>{a, b, t});
    EXPECT_TRUE(fired);
    EXPECT_LT(n, 20000000u);
    return n;
  });
  EXPECT_EQ(yields[2], yields[3]);  // the simulator, on and off
}

// The hand-off does happen (else the test above proves nothing): a sleep(0)
// ping-pong switches once per yield with it, twice without.
TEST(HandOff, HalvesTheSwitchesOfAPingPong) {
  std::vector<uint64_t> switches = OnBothBackends([](bool) {
    Hub* hub = get_hub();
    bool stop = false;
    auto partner = spawn([&stop] {
      while (!stop) sleep();
    });
    sleep();
    const uint64_t before = hub->switch_count();
    for (int i = 0; i < 1000; ++i) sleep();
    const uint64_t n = hub->switch_count() - before;
    stop = true;
    partner->join();
    return n;
  });
  for (int backend = 0; backend < 2; ++backend) {
    // One per yield (+ a trip through the hub at each budget check), and
    // two per yield through the hub.
    EXPECT_LE(switches[2 * backend], 2000u + 20u) << "backend " << backend;
    EXPECT_EQ(switches[2 * backend + 1], 4000u) << "backend " << backend;
  }
}

// Timers too: when several sleepers are due together, each one that goes
// back to sleep fires the next sleeper's timer itself and switches straight
// to it: one switch a wake-up instead of two.
//
// On epoll the sleepers' timers start a little apart (the time it takes to
// run the batch before), so on a slow or loaded machine (ASan) a round's
// timers could fall due in different loop iterations, and each iteration's
// batch would pay a trip through the hub. A hog greenlet therefore holds
// the epoll loop in each round from 5 to 20 ms after the sleepers started,
// 10 ms past their deadlines, so that every round's timers are due together
// when the loop gets them. On the simulator they are due together by construction (code
// takes no virtual time), and the hog only sleeps.
TEST(HandOff, SleepersDueTogetherSwitchOnceEach) {
  constexpr int kSleepers = 50, kRounds = 10;
  std::vector<uint64_t> switches = OnBothBackends([](bool) {
    Hub* hub = get_hub();
    const bool real_time = std::string(hub->backend_name()) == "epoll";
    std::vector<std::shared_ptr<Greenlet<void>>> gs;
    for (int i = 0; i < kSleepers; ++i) {
      gs.push_back(spawn([] {
        for (int r = 0; r < kRounds; ++r) sleep(Milliseconds(10));
      }));
    }
    // Started after the sleepers, in the same pass: it wakes 5 ms into each
    // round and holds the loop until 10 ms after the round's deadlines.
    auto hog = spawn([hub, real_time] {
      for (int r = 0; r < kRounds; ++r) {
        sleep(Milliseconds(5));
        const absl::Time until = hub->now() + Milliseconds(15);
        while (real_time && hub->now() < until) {
        }
      }
    });
    sleep();  // all start, and sleep
    const uint64_t before = hub->switch_count();
    joinall(gs);
    const uint64_t n = hub->switch_count() - before;
    hog->join();
    return n;
  });
  for (int backend = 0; backend < 2; ++backend) {
    const uint64_t on = switches[2 * backend], off = switches[2 * backend + 1];
    // Without: into each sleeper and back, at every wake-up.
    EXPECT_GE(off, 2u * kSleepers * kRounds) << "backend " << backend;
    // With: about one per wake-up, plus one into and out of each batch.
    EXPECT_LT(on, off * 6 / 10) << "backend " << backend;
  }
}

}  // namespace
}  // namespace gevent
