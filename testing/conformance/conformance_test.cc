// Ports of the gevent conformance vectors in testing/conformance/gevent/.
//
// Each TEST_P is one vector: it does what NAME.py does, prints through
// `out`, and must print exactly the lines of NAME.expected (what gevent
// 22.10.2 printed). Every vector runs on the epoll hub and on the simulated
// hub (seed 0).
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/conformance/conformance.h"
#include "testing/hub_test.h"

namespace gevent {
namespace conformance {
namespace {

using absl::Milliseconds;
using absl::Seconds;

// Runs its function when it goes out of scope: Python's `finally:`.
class Finally {
 public:
  explicit Finally(std::function<void()> f) : f_(std::move(f)) {}
  ~Finally() { f_(); }

 private:
  std::function<void()> f_;
};

class Conformance : public testing::HubTest {
 protected:
  void Check(const std::string& vector) {
    EXPECT_EQ(out.lines(), ExpectedLines(vector)) << "vector " << vector;
  }
  Output out;
};

TEST_P(Conformance, s01_spawn_order) {
  auto f = [this](std::string name) {
    out.print("run", name);
    return name;
  };
  std::vector<std::shared_ptr<Greenlet<std::string>>> gs;
  for (const char* n : {"a", "b", "c"}) gs.push_back(spawn(f, std::string(n)));
  out.print("spawned");
  joinall(gs);
  std::vector<std::string> values;
  for (auto& g : gs) values.push_back(Repr(*g->value()));
  out.print("values", List(values));
  Check("s01_spawn_order");
}

TEST_P(Conformance, s02_sleep0_roundrobin) {
  auto w = [this](std::string name) {
    for (int i = 0; i < 3; ++i) {
      out.print(name, i);
      sleep(absl::ZeroDuration());
    }
  };
  joinall(GreenletList{spawn(w, std::string("a")), spawn(w, std::string("b"))});
  out.print("done");
  Check("s02_sleep0_roundrobin");
}

TEST_P(Conformance, s03_spawn_later) {
  auto f = [this](std::string n) { out.print("run", n); };
  auto a = spawn_later(Milliseconds(30), f, std::string("late"));
  auto b = spawn_later(Milliseconds(10), f, std::string("early"));
  auto c = make_greenlet(f, std::string("middle"));
  c->start_later(Milliseconds(20));
  auto d = spawn(f, std::string("now"));
  joinall(GreenletList{a, b, c, d});
  out.print("done");
  Check("s03_spawn_later");
}

TEST_P(Conformance, s04_kill_before_start) {
  auto g = spawn([this] { out.print("SHOULD NOT RUN"); });
  out.print("bool before kill", static_cast<bool>(*g));
  g->kill();
  out.print("dead", g->dead(), "ready", g->ready(), "successful",
            g->successful());
  out.print("value type", g->killed() ? "GreenletExit" : "None", "exception",
            TypeName(g->exception()));
  out.print("bool after kill", static_cast<bool>(*g));
  sleep(Milliseconds(10));
  out.print("done");
  Check("s04_kill_before_start");
}

TEST_P(Conformance, s05_kill_running) {
  auto f = [this] {
    Finally fin([this] { out.print("f finally"); });
    try {
      out.print("f sleeping");
      sleep(Seconds(10));
      out.print("SHOULD NOT WAKE");
    } catch (const GreenletExit&) {
      out.print("f got", "GreenletExit");
      throw;
    }
  };
  auto g = spawn(f);
  sleep(absl::ZeroDuration());
  g->kill();
  out.print("after kill dead", g->dead(), "successful", g->successful(),
            "value", g->killed() ? "GreenletExit" : "None");
  Check("s05_kill_running");
}

struct Boom : std::runtime_error {
  Boom() : std::runtime_error("boom") {}
};

TEST_P(Conformance, s06_kill_custom_exception) {
  hub()->set_error_handler([](const RawGreenlet*, std::exception_ptr) {});
  auto g = spawn([] { sleep(Seconds(10)); });
  sleep(absl::ZeroDuration());
  g->kill(Boom());
  out.print("dead", g->dead(), "successful", g->successful(), "exception",
            TypeName(g->exception()), "value",
            g->killed() ? "GreenletExit" : "None");
  try {
    g->get();
  } catch (const Boom&) {
    out.print("get raised Boom");
  }
  Check("s06_kill_custom_exception");
}

TEST_P(Conformance, s07_kill_nonblocking) {
  auto f = [this] {
    Finally fin([this] { out.print("f finally"); });
    sleep(Seconds(10));
  };
  auto g = spawn(f);
  sleep(absl::ZeroDuration());
  g->kill(/*block=*/false);
  out.print("right after kill: dead", g->dead());
  sleep(absl::ZeroDuration());
  out.print("after one switch: dead", g->dead());
  Check("s07_kill_nonblocking");
}

struct KeyError : std::runtime_error {
  explicit KeyError(const std::string& key) : std::runtime_error(Repr(key)) {}
};

TEST_P(Conformance, s10_get_and_join) {
  hub()->set_error_handler([](const RawGreenlet*, std::exception_ptr) {});
  auto g = spawn([] {
    sleep(Milliseconds(50));
    return std::string("slow-done");
  });
  try {
    g->get(/*block=*/false);
  } catch (const TimeoutError&) {
    out.print("get(block=False) raised Timeout");
  }
  g->join(Milliseconds(10));  // returns nothing (gevent: None)
  out.print("join timed out, returned None dead", g->dead());
  try {
    g->get(/*block=*/true, Milliseconds(10));
  } catch (const TimeoutError&) {
    out.print("get(timeout) raised Timeout, dead", g->dead());
  }
  out.print("get", g->get());
  auto b = spawn([]() -> int { throw KeyError("k"); });
  try {
    b->get();
  } catch (const KeyError& e) {
    out.print("get re-raised KeyError", e.what());
  }
  Check("s10_get_and_join");
}

struct MyErr : std::runtime_error {
  MyErr() : std::runtime_error("MyErr") {}
};

TEST_P(Conformance, s11_timeout_basic) {
  try {
    TimeoutScope t(Milliseconds(10));
    sleep(Seconds(1));
    out.print("NOT REACHED");
  } catch (const TimeoutError& t) {
    out.print("raised Timeout", conformance::Seconds(t.seconds()));
  }
  with_silent_timeout(Milliseconds(10), [this] {
    sleep(Seconds(1));
    out.print("NOT REACHED");
  });
  out.print("swallowed");
  Timeout t(Milliseconds(10));
  t.start();
  out.print("pending", t.pending());
  t.cancel();
  out.print("pending after cancel", t.pending());
  sleep(Milliseconds(20));
  out.print("cancelled timeout did not fire");
  {
    TimeoutScope never(absl::InfiniteDuration());
    sleep(Milliseconds(10));
  }
  out.print("Timeout(None) never fires");
  try {
    TimeoutScope custom(Milliseconds(10), MyErr());
    sleep(Seconds(1));
  } catch (const MyErr&) {
    out.print("raised custom exception class");
  }
  Check("s11_timeout_basic");
}

TEST_P(Conformance, s13_with_timeout) {
  auto slow = [](int x) {
    sleep(Seconds(1));
    return std::to_string(x);
  };
  out.print(with_timeout(Milliseconds(10),
                         timeout_value(std::string("fallback")), slow, 5));
  out.print(with_timeout(Milliseconds(500), [] { return std::string("fast"); }));
  try {
    with_timeout(Milliseconds(10), slow, 5);
  } catch (const TimeoutError&) {
    out.print("raised Timeout");
  }
  Check("s13_with_timeout");
}

TEST_P(Conformance, s14_wait_count) {
  auto f = [](absl::Duration d, std::string n) {
    sleep(d);
    return n;
  };
  std::vector<std::shared_ptr<Greenlet<std::string>>> gs = {
      spawn(f, Milliseconds(30), std::string("c")),
      spawn(f, Milliseconds(10), std::string("a")),
      spawn(f, Milliseconds(20), std::string("b"))};
  auto ready = wait(gs, absl::InfiniteDuration(), /*count=*/1);
  std::vector<std::string> first;
  for (auto& g : ready) first.push_back(Repr(*g->value()));
  out.print("first ready", List(first));
  for (auto& g : iwait(gs)) out.print("iwait", *g->value());
  std::vector<std::string> all;
  for (auto& g : wait(gs)) all.push_back(*g->value());
  std::sort(all.begin(), all.end());
  for (auto& v : all) v = Repr(v);
  out.print("wait all", List(all));
  Check("s14_wait_count");
}

TEST_P(Conformance, s15_wait_timeout) {
  auto f = [](absl::Duration d) {
    sleep(d);
    return d;
  };
  std::vector<std::shared_ptr<Greenlet<absl::Duration>>> gs = {
      spawn(f, Milliseconds(10)), spawn(f, Milliseconds(500))};
  std::vector<std::string> r;
  for (auto& g : wait(gs, Milliseconds(50))) {
    r.push_back(conformance::Seconds(*g->value()));
  }
  out.print("ready in time", List(r));
  std::vector<std::string> got;
  for (auto& g : iwait(gs, Milliseconds(50))) {
    got.push_back(conformance::Seconds(*g->value()));
  }
  out.print("iwait in time", List(got));
  killall(gs);
  std::vector<std::string> dead;
  for (auto& g : gs) dead.push_back(g->dead() ? "True" : "False");
  out.print("killed; dead", List(dead));
  Check("s15_wait_timeout");
}

TEST_P(Conformance, s18_idle) {
  auto busy = [this] {
    for (int i = 0; i < 3; ++i) {
      out.print("busy", i);
      sleep(absl::ZeroDuration());
    }
  };
  auto lazy = [this] {
    idle();
    out.print("lazy ran when idle");
  };
  joinall(GreenletList{spawn(lazy), spawn(busy)});
  Check("s18_idle");
}

TEST_P(Conformance, s19_loopexit) {
  Event e;
  try {
    e.wait();
  } catch (const LoopExit&) {
    out.print("LoopExit raised");
  }
  auto g = spawn([&e] { e.wait(); });
  try {
    g->join();
    out.print("join returned, dead", g->dead(), "exception",
              TypeName(g->exception()));
  } catch (const LoopExit&) {
    out.print("join LoopExit");
  }
  Check("s19_loopexit");
}

TEST_P(Conformance, s20_event) {
  Event e;
  auto waiter = [&](int n) { out.print("waiter", n, "got", e.wait()); };
  GreenletList gs;
  for (int i = 0; i < 3; ++i) gs.push_back(spawn(waiter, i));
  sleep(absl::ZeroDuration());
  out.print("setting");
  e.set();
  joinall(gs);
  e.clear();
  out.print("wait timeout result", e.wait(Milliseconds(10)));
  AsyncResult<std::string> a;
  spawn_later(Milliseconds(10), [&a] { a.set("result"); });
  out.print("async get", a.get());
  AsyncResult<std::string> b;
  spawn_later(Milliseconds(10),
              [&b] { b.set_exception(std::invalid_argument("v")); });
  try {
    b.get();
  } catch (const std::invalid_argument& ex) {
    out.print("async exception", ex.what());
  }
  out.print("ready", b.ready(), "successful", b.successful());
  Check("s20_event");
}

TEST_P(Conformance, s21_semaphore) {
  Semaphore s(1);
  auto w = [&](int n) {
    ScopedAcquire hold(s);
    out.print("in", n);
    sleep(Milliseconds(10));
    out.print("out", n);
  };
  GreenletList gs;
  for (int i = 0; i < 3; ++i) gs.push_back(spawn(w, i));
  joinall(gs);
  out.print("acquire(timeout) free", s.acquire(true, Milliseconds(10)));
  out.print("acquire(timeout) taken", s.acquire(true, Milliseconds(10)));
  s.release();
  BoundedSemaphore b(1);
  try {
    b.release();
  } catch (const std::logic_error&) {
    out.print("bounded over-release ValueError");
  }
  Check("s21_semaphore");
}

struct ZeroDivisionError : std::runtime_error {
  ZeroDivisionError() : std::runtime_error("zd") {}
};

TEST_P(Conformance, s23_greenlet_exception) {
  hub()->set_error_handler([](const RawGreenlet*, std::exception_ptr) {});
  auto bad = []() -> int { throw ZeroDivisionError(); };
  auto good = [] {
    sleep(Milliseconds(10));
    return std::string("good");
  };
  auto b = spawn(bad);
  auto g = spawn(good);
  joinall(GreenletList{b, g});
  out.print("bad ready", b->ready(), "successful", b->successful(),
            "exception", TypeName(b->exception()), "value",
            b->value().has_value() ? std::to_string(*b->value()) : "None");
  out.print("good", *g->value());
  Check("s23_greenlet_exception");
}

TEST_P(Conformance, s25_sleep_ref_false) {
  auto g = spawn([this] {
    sleep(Seconds(10), /*ref=*/false);
    out.print("NOT REACHED");
  });
  wait();
  out.print("wait returned; g dead", g->dead());
  Check("s25_sleep_ref_false");
}

TEST_P(Conformance, s27_spawn_validation) {
  // A value that is not callable does not compile in C++; what remains to
  // check at run time is an empty function, which fails at once.
  static_assert(!is_spawnable_v<int>);
  static_assert(!is_spawnable_v<const char*>);
  try {
    spawn(std::function<void()>());
  } catch (const std::invalid_argument&) {
    out.print("spawn TypeError");
  }
  try {
    spawn_later(Milliseconds(10), static_cast<void (*)()>(nullptr));
  } catch (const std::invalid_argument&) {
    out.print("spawn_later TypeError");
  }
  try {
    make_greenlet(std::function<int()>());
  } catch (const std::invalid_argument&) {
    out.print("Greenlet TypeError");
  }
  Check("s27_spawn_validation");
}

TEST_P(Conformance, s30_joinall_not_started_and_get_killed) {
  auto g = spawn([] { sleep(Seconds(1)); });
  sleep(absl::ZeroDuration());
  g->kill();
  g->get();  // returns: the greenlet's "value" is the GreenletExit
  out.print("get on killed ->", g->killed() ? "GreenletExit" : "None");
  Check("s30_joinall_not_started_and_get_killed");
}

// s40: gevent's Greenlet subclass (_run, __str__, state in members) is a
// GreenletClass<T>.
class MyNoopGreenlet : public GreenletClass<int> {
 public:
  explicit MyNoopGreenlet(int ms) : ms_(ms) {}
  std::string describe() const override { return absl::StrCat("MyNoopGreenlet(", ms_, " ms)"); }

 protected:
  int _run() override {
    sleep(Milliseconds(ms_));
    return ms_ * 2;
  }

 private:
  int ms_;
};

class QueueWorker : public GreenletClass<int> {
 public:
  Queue<std::optional<int>> inbox;
  std::vector<std::string> done;

 protected:
  int _run() override {
    for (;;) {
      std::optional<int> item = inbox.get();
      if (!item) return static_cast<int>(done.size());
      done.push_back(absl::StrCat(*item * 10));
    }
  }
};

class Failing : public GreenletClass<> {
 public:
  std::string describe() const override { return "Failing()"; }

 protected:
  void _run() override { throw std::invalid_argument("boom"); }
};

TEST_P(Conformance, s40_greenlet_subclass) {
  hub()->set_error_handler([](const RawGreenlet*, std::exception_ptr) {});
  auto g = std::make_shared<MyNoopGreenlet>(10);
  out.print("started before start:", g->started());
  g->start();
  out.print("started after start:", g->started());
  out.print("value:", g->get());
  out.print("str:", g->describe());
  out.print("dead:", g->dead(), "successful:", g->successful());

  auto w = spawn_greenlet<QueueWorker>();
  for (int i = 0; i < 3; ++i) w->inbox.put(i);
  w->inbox.put(std::nullopt);
  const int processed = w->get();
  out.print("worker result:", processed, List(w->done));

  auto f = spawn_greenlet<Failing>();
  f->join();
  std::string what;
  try {
    std::rethrow_exception(f->exception());
  } catch (const std::exception& e) {
    what = e.what();
  }
  // ValueError is std::invalid_argument here.
  out.print("failing successful:", f->successful(),
            TypeName(f->exception()) == "invalid_argument" ? "ValueError" : "?", what);

  auto k = std::make_shared<MyNoopGreenlet>(10000);
  k->start();
  sleep(absl::ZeroDuration());
  k->kill();
  out.print("killed dead:", k->dead(), "successful:", k->successful(),
            k->killed() ? "GreenletExit" : "?");
  Check("s40_greenlet_subclass");
}

GEVENT_INSTANTIATE_BACKENDS(Conformance);

}  // namespace
}  // namespace conformance
}  // namespace gevent
