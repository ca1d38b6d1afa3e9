// The consumer's test: the same greeter code on the epoll hub and, under
// many schedules, on the simulator.
#include <gtest/gtest.h>

#include "greeter.h"
#include "runtime/gevent.h"
#include "testing/explore.h"

TEST(Greeter, GreetsOnTheRealNetwork) {
  auto server = greeter::Start(gevent::Address::Parse("127.0.0.1:0"));
  EXPECT_EQ(greeter::Greet(server->address(), "epoll"), "hello, epoll");
  server->stop();
}

GEVENT_SIM_TEST(GreeterSim, GreetsEveryClient) {
  auto server = greeter::Start(gevent::Address::Parse("127.0.0.1:7000"));
  auto a = gevent::spawn([&] { return greeter::Greet(server->address(), "a"); });
  auto b = gevent::spawn([&] { return greeter::Greet(server->address(), "b"); });
  EXPECT_EQ(a->get(), "hello, a");
  EXPECT_EQ(b->get(), "hello, b");
  server->stop();
}
