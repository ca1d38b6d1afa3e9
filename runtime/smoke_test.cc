#include <gtest/gtest.h>
#include "runtime/gevent.h"
TEST(Smoke, SpawnJoin) {
  std::vector<std::string> log;
  auto a = gevent::spawn([&](int x) { log.push_back("a"); gevent::sleep(); log.push_back("a2"); return x * 2; }, 21);
  auto b = gevent::spawn([&] { log.push_back("b"); gevent::sleep(absl::Milliseconds(10)); log.push_back("b2"); });
  gevent::joinall(std::vector<std::shared_ptr<gevent::GreenletBase>>{a, b});
  EXPECT_EQ(a->get(), 42);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "a2", "b2"}));
}
