// The epoll network's promises that socket_test.cc cannot see from the
// outside: a socket waits without any epoll_ctl, and name resolution runs
// on the resolver's threads, not on the loop. This test defines epoll_ctl
// and getaddrinfo itself, counting and watching calls before passing them
// on to the C library's.
#include <dlfcn.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "runtime/socket.h"

namespace {

std::atomic<int> g_epoll_ctl_calls{0};
std::atomic<bool> g_slow_resolver{false};
std::atomic<bool> g_resolved_on_loop{false};
std::thread::id g_loop_thread;

}  // namespace

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) noexcept {
  g_epoll_ctl_calls.fetch_add(1);
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (g_slow_resolver.load()) {
    if (std::this_thread::get_id() == g_loop_thread) g_resolved_on_loop = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a slow DNS server
  }
  return real(node, service, hints, res);
}

namespace gevent {
namespace {

TEST(KernelNetwork, WaitingMakesNoEpollCtl) {
  ASSERT_STREQ(get_hub()->backend_name(), "epoll");
  const int at_start = g_epoll_ctl_calls.load();
  Socket listener(AF_INET, SocketType::kStream);
  listener.bind(Address::Parse("127.0.0.1:0"));
  listener.listen();
  ASSERT_GT(g_epoll_ctl_calls.load(), at_start) << "epoll_ctl is not being counted";
  Socket client = create_connection(listener.local_address());
  Socket server = listener.accept();
  auto echo = spawn([&server] {
    char buf[64];
    while (size_t n = server.recv(buf, sizeof buf)) server.sendall(buf, n);
  });
  // Sends `msg` and reads back as many bytes.
  auto round_trip = [&client](const std::string& msg) {
    client.sendall(msg);
    std::string back;
    for (std::string part = "x"; back.size() < msg.size() && !part.empty();) {
      part = client.recv(msg.size() - back.size());
      back += part;
    }
    return back;
  };
  ASSERT_EQ(round_trip("warm"), "warm");
  // Each round trip makes both greenlets wait: the client's recv before the
  // echo greenlet has run, the echo greenlet's recv for the next message.
  const int before = g_epoll_ctl_calls.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(round_trip("ping"), "ping");
  }
  EXPECT_EQ(g_epoll_ctl_calls.load() - before, 0);
  client.close();
  echo->join();
}

TEST(KernelNetwork, CreateConnectionResolvesOffTheLoop) {
  ASSERT_STREQ(get_hub()->backend_name(), "epoll");
  Socket listener(AF_INET, SocketType::kStream);
  listener.bind(Address::Parse("127.0.0.1:0"));
  listener.listen();
  int ticks = 0;
  bool resolving = true;
  auto ticker = spawn([&] {
    while (resolving) {
      sleep(absl::Milliseconds(10));
      ++ticks;
    }
  });
  g_loop_thread = std::this_thread::get_id();
  g_slow_resolver = true;
  Socket client =
      create_connection(absl::StrCat("localhost:", listener.local_address().port()));
  g_slow_resolver = false;
  resolving = false;
  ticker->join();
  EXPECT_FALSE(g_resolved_on_loop.load());
  EXPECT_GT(ticks, 0) << "the loop stood still while the name resolved";
  Socket server = listener.accept();
  EXPECT_EQ(server.peer_address(), client.local_address());
}

}  // namespace
}  // namespace gevent
