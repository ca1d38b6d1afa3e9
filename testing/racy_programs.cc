#include "testing/racy_programs.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"

namespace gevent {
namespace testing {
namespace racy {

using absl::Milliseconds;

// A read-modify-write split by a sleep: the other greenlet's increment is
// lost when the timers due at 2 ms fire in the other order.
void LostUpdate() {
  int counter = 0;
  auto a = spawn([&] {
    sleep(Milliseconds(1));
    const int v = counter;
    sleep(Milliseconds(1));
    counter = v + 1;
  });
  auto b = spawn([&] {
    sleep(Milliseconds(1));
    sleep(Milliseconds(1));
    counter += 1;
  });
  joinall(GreenletList{a, b});
  EXPECT_EQ(counter, 2) << "an increment was lost";
}

// A wake-up sent before the waiter waits is lost: a condition variable
// built on Event::set + clear.
void LostWakeup() {
  bool ready = false;
  Event cond;
  auto consumer = spawn([&] {
    if (!ready) {
      sleep(Milliseconds(1));  // some work between the check and the wait
      cond.wait();
    }
  });
  auto producer = spawn([&] {
    sleep(Milliseconds(1));
    ready = true;
    cond.set();
    cond.clear();
  });
  joinall(GreenletList{consumer, producer});
}

// A timeout racing a reply: the client gives up on request 1 after 5 ms
// and sends request 2; the server answers each after 5 ms. When the reply
// to 1 comes after the client gave up, the client takes it for 2's.
void TimeoutRacesReply() {
  Queue<int> replies;
  GreenletList servers;
  auto send = [&](int request) {
    servers.push_back(spawn([&replies, request] {
      sleep(Milliseconds(5));
      replies.put(request);
    }));
  };
  send(1);
  sleep(absl::ZeroDuration());  // the server starts first
  sleep(Milliseconds(5));       // the client's timeout
  if (replies.empty()) {
    send(2);
    EXPECT_EQ(replies.get(), 2) << "a stale reply was taken for a new one";
  } else {
    EXPECT_EQ(replies.get(), 1);
  }
  joinall(servers);
}

// Two locks taken in opposite orders: deadlocks when the ticks at 1 ms and
// 2 ms go the other way.
void LockOrder() {
  Semaphore a(1), b(1);
  auto g2 = spawn([&] {
    sleep(Milliseconds(1));
    a.acquire();
    sleep(Milliseconds(1));
    b.acquire();
    b.release();
    a.release();
  });
  auto g1 = spawn([&] {
    sleep(Milliseconds(1));
    sleep(Milliseconds(1));
    b.acquire();
    a.acquire();
    a.release();
    b.release();
  });
  joinall(GreenletList{g1, g2});
}

// Depth 3: three greenlets step together 20 times; the bug needs the lead
// (who steps first in a round) to pass from A to B and then to C, once
// each and for good.
void DepthThree() {
  std::vector<std::vector<int>> order(20);
  auto step = [&](int who) {
    for (int round = 0; round < 20; ++round) {
      sleep(Milliseconds(1));
      order[round].push_back(who);
    }
  };
  GreenletList gs{spawn(step, 0), spawn(step, 1), spawn(step, 2)};
  joinall(gs);
  std::string leads;
  for (const auto& r : order) leads += static_cast<char>('A' + r.front());
  const size_t b = leads.find('B'), c = leads.find('C');
  const bool pattern = leads[0] == 'A' && b != std::string::npos && c != std::string::npos &&
                       b < c && leads.find_first_not_of('A') == b &&
                       leads.find_first_not_of('B', b) == c &&
                       leads.find_first_not_of('C', c) == std::string::npos;
  EXPECT_FALSE(pattern) << "leads " << leads;
}

// The example of docs/testing.md: two withdrawals both pass the check.
struct Account {
  int balance = 100;
  bool withdraw(int amount) {
    if (balance < amount) return false;
    sleep(Milliseconds(1));  // talks to a ledger
    balance -= amount;
    return true;
  }
};

void Overdraw() {
  Account account;
  auto a = spawn([&] {
    sleep(Milliseconds(1));
    account.withdraw(80);
  });
  auto b = spawn([&] {
    sleep(Milliseconds(1));
    sleep(Milliseconds(1));  // a little later: a has usually committed
    account.withdraw(80);
  });
  joinall(GreenletList{a, b});
  EXPECT_GE(account.balance, 0);
}



// LockOrder among greenlets that only sleep: hundreds of decisions, of
// which one or two cause the deadlock.
void LockOrderInNoise() {
  GreenletList noise;
  for (int i = 0; i < 10; ++i) {
    noise.push_back(spawn([i] {
      for (int k = 0; k < 30; ++k) sleep(absl::Microseconds(100 + 37 * i));
    }));
  }
  LockOrder();
  joinall(noise);
}

}  // namespace racy
}  // namespace testing
}  // namespace gevent
