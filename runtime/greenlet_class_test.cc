// Tests for GreenletClass (greenlet.h): greenlets defined by subclassing,
// gevent's Greenlet subclass with _run() and __str__. Both hub backends.
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;

class Counter : public GreenletClass<int> {
 public:
  explicit Counter(int upto, std::shared_ptr<int> progress = nullptr)
      : upto_(upto), progress_(std::move(progress)) {}
  std::string describe() const override { return absl::StrCat("Counter(upto=", upto_, ")"); }

 protected:
  int _run() override {
    int sum = 0;
    for (int i = 1; i <= upto_; ++i) {
      sum += i;
      if (progress_) *progress_ = i;
      sleep(Milliseconds(10));
    }
    return sum;
  }

 private:
  int upto_;
  std::shared_ptr<int> progress_;
};

class Thrower : public GreenletClass<> {
 public:
  std::string describe() const override { return "Thrower(the one that fails)"; }

 protected:
  void _run() override { throw std::runtime_error("it broke"); }
};

class Waiter : public GreenletClass<> {
 public:
  explicit Waiter(Event* e) : event_(e) {}
  std::string describe() const override { return "Waiter(for the event)"; }

 protected:
  void _run() override { event_->wait(); }

 private:
  Event* event_;
};

// gevent's "you SHOULD NOT override run()": here the body is _run(), and a
// class that defines some other run function instead is abstract, so
// spawn_greenlet<OnlyRun>() and std::make_shared<OnlyRun>() do not compile.
// (Run() and RunFunction() are final: a class that overrides them does
// not compile either.)
class OnlyRun : public GreenletClass<int> {
 public:
  int run() { return 1; }
};
static_assert(std::is_abstract_v<OnlyRun>, "a GreenletClass without _run() cannot be made");
static_assert(!std::is_abstract_v<Counter>);

class GreenletClassTest : public testing::HubTest {};

TEST_P(GreenletClassTest, RunsItsBodyAndReturnsItsValue) {
  auto c = spawn_greenlet<Counter>(4);
  EXPECT_TRUE(c->started());
  EXPECT_EQ(c->get(), 10);
  EXPECT_TRUE(c->dead());
  EXPECT_TRUE(c->successful());
  EXPECT_EQ(c->value(), 10);
}

TEST_P(GreenletClassTest, StartLaterJoinKillAndLinks) {
  std::vector<std::string> log;
  auto late = std::make_shared<Counter>(1);
  late->link([&log](GreenletBase& g) { log.push_back("linked " + g.describe()); });
  late->start_later(Milliseconds(20));
  EXPECT_FALSE(late->dead());
  late->join();
  EXPECT_EQ(late->get(), 1);
  sleep(absl::ZeroDuration());
  EXPECT_EQ(log, std::vector<std::string>{"linked Counter(upto=1)"});

  auto progress = std::make_shared<int>(0);
  auto k = spawn_greenlet<Counter>(100, progress);
  sleep(Milliseconds(25));
  k->kill();
  EXPECT_TRUE(k->dead());
  EXPECT_TRUE(k->killed());
  EXPECT_GT(*progress, 0);
  EXPECT_LT(*progress, 100);
  EXPECT_THROW(k->get(), NoValueError);
}

TEST_P(GreenletClassTest, StaysAliveWhenEveryPointerIsDropped) {
  auto progress = std::make_shared<int>(0);
  std::weak_ptr<Counter> weak;
  {
    auto c = spawn_greenlet<Counter>(3, progress);
    weak = c;
  }  // dropped before it even started
  EXPECT_FALSE(weak.expired());
  sleep(Milliseconds(50));
  EXPECT_EQ(*progress, 3);  // ran to the end
  sleep(absl::ZeroDuration());
  EXPECT_TRUE(weak.expired());  // and was released after it finished
}

TEST_P(GreenletClassTest, ItsDescriptionNamesItInErrorReports) {
  std::vector<std::string> reports;
  hub()->set_error_handler([&reports](const RawGreenlet* g, std::exception_ptr) {
    reports.push_back(g != nullptr ? g->describe() : "?");
  });
  auto t = spawn_greenlet<Thrower>();
  t->join();
  EXPECT_FALSE(t->successful());
  EXPECT_EQ(reports, std::vector<std::string>{"Thrower(the one that fails)"});
  hub()->set_error_handler(nullptr);
  auto u = spawn_greenlet<Thrower>();
  ::testing::internal::CaptureStderr();
  u->join();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "Thrower(the one that fails) failed with std::runtime_error: it broke\n");
}

TEST_P(GreenletClassTest, AnObjectNotOwnedByASharedPtrCannotStart) {
  Counter on_the_stack(1);
  try {
    on_the_stack.start();
    FAIL() << "started";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("std::shared_ptr"), std::string::npos) << e.what();
  }
  EXPECT_THROW(on_the_stack.start_later(Milliseconds(1)), std::logic_error);
  EXPECT_FALSE(on_the_stack.started());
}

GEVENT_INSTANTIATE_BACKENDS(GreenletClassTest);

TEST(GreenletClassDeadlock, TheReportUsesItsDescription) {
  sim::Simulation sim(0);
  Event never;
  auto w = spawn_greenlet<Waiter>(&never);
  try {
    sim.run();
    FAIL() << "no deadlock reported";
  } catch (const LoopExit& e) {
    EXPECT_NE(std::string(e.what()).find("Waiter(for the event)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gevent
