// Tests for runtime/io.h: wait_read / wait_write. Real I/O on the epoll hub;
// on the simulated hub, waiting on a real descriptor is a std::logic_error
// naming it. Both hub backends.
#include "runtime/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

using absl::Milliseconds;
using absl::Seconds;
using absl::ZeroDuration;
using Log = std::vector<std::string>;

// A non-blocking pipe whose ends are moved to descriptors >= 700, so that
// their numbers are easy to recognise in messages.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    read_fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 700);
    write_fd = fcntl(fds[1], F_DUPFD_CLOEXEC, 700);
    close(fds[0]);
    close(fds[1]);
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  void CloseRead() {
    if (read_fd >= 0) close(read_fd);
    read_fd = -1;
  }
  void CloseWrite() {
    if (write_fd >= 0) close(write_fd);
    write_fd = -1;
  }
  bool Write(const std::string& s) {
    return ::write(write_fd, s.data(), s.size()) ==
           static_cast<ssize_t>(s.size());
  }
  std::string Read() {
    char buf[256];
    ssize_t n = ::read(read_fd, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  int read_fd = -1;
  int write_fd = -1;
};

class IoTest : public testing::HubTest {
 protected:
  // On the simulator: calling `f` must throw std::logic_error naming `fd`.
  template <typename F>
  void ExpectSimRefuses(int fd, F f) {
    try {
      f();
      ADD_FAILURE() << "no exception for file descriptor " << fd;
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(fd)),
                std::string::npos)
          << e.what();
    }
  }
};

TEST_P(IoTest, ReaderWokenByDataFromAnotherGreenlet) {
  Pipe p;
  ASSERT_GE(p.read_fd, 700);
  if (simulated()) {
    ExpectSimRefuses(p.read_fd, [&] { wait_read(p.read_fd); });
    ExpectSimRefuses(p.write_fd, [&] { wait_write(p.write_fd); });
    return;
  }
  Log log;
  std::string data;
  auto reader = spawn([&] {
    bool ok = wait_read(p.read_fd);
    log.push_back(ok ? "readable" : "timed out");
    data = p.Read();
  });
  auto writer = spawn([&] {
    sleep(Milliseconds(10));
    log.push_back("writing");
    EXPECT_TRUE(p.Write("hello"));
  });
  joinall(GreenletList{reader, writer});
  EXPECT_EQ(log, (Log{"writing", "readable"}));
  EXPECT_EQ(data, "hello");
}

TEST_P(IoTest, WaitReadTimeoutReturnsFalse) {
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.read_fd,
                     [&] { wait_read(p.read_fd, Milliseconds(10)); });
    return;
  }
  EXPECT_FALSE(wait_read(p.read_fd, Milliseconds(10)));
  EXPECT_FALSE(wait_read(p.read_fd, ZeroDuration()));
  // The descriptor can be waited on again afterwards.
  ASSERT_TRUE(p.Write("x"));
  EXPECT_TRUE(wait_read(p.read_fd, Milliseconds(500)));
  EXPECT_EQ(p.Read(), "x");
}

TEST_P(IoTest, DrainedPipeIsNotReadableAgain) {
  // gevent: after wait_read() returned and the data was read, a new
  // wait_read() with a timeout times out. The new watcher must not be handed
  // the readiness event that woke the previous one.
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.read_fd,
                     [&] { wait_read(p.read_fd, Milliseconds(10)); });
    return;
  }
  ASSERT_TRUE(p.Write("x"));
  EXPECT_TRUE(wait_read(p.read_fd, Milliseconds(500)));
  EXPECT_EQ(p.Read(), "x");
  EXPECT_FALSE(wait_read(p.read_fd, Milliseconds(10)));
  EXPECT_EQ(p.Read(), "");
  // The same in a spawned greenlet woken by another one's write.
  Log log;
  auto reader = spawn([&] {
    log.push_back(wait_read(p.read_fd, Seconds(5)) ? "readable" : "timeout");
    log.push_back("read " + p.Read());
    log.push_back(wait_read(p.read_fd, Milliseconds(10)) ? "readable again"
                                                         : "timeout");
  });
  auto writer = spawn([&] {
    sleep(Milliseconds(10));
    EXPECT_TRUE(p.Write("y"));
  });
  joinall(GreenletList{reader, writer});
  EXPECT_EQ(log, (Log{"readable", "read y", "timeout"}));
}

TEST_P(IoTest, WaitWriteOnEmptyPipeIsReady) {
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.write_fd,
                     [&] { wait_write(p.write_fd, Milliseconds(10)); });
    return;
  }
  EXPECT_TRUE(wait_write(p.write_fd));
  EXPECT_TRUE(wait_write(p.write_fd, Milliseconds(10)));
  // The read end of an empty pipe is never writable.
  EXPECT_FALSE(wait_write(p.read_fd, Milliseconds(10)));
}

TEST_P(IoTest, WaitWriteWakesWhenFullPipeIsDrained) {
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.write_fd, [&] { wait_write(p.write_fd); });
    return;
  }
  // Fill the pipe.
  std::string chunk(4096, 'x');
  while (::write(p.write_fd, chunk.data(), chunk.size()) > 0) {
  }
  EXPECT_FALSE(wait_write(p.write_fd, Milliseconds(10)));
  Log log;
  auto drainer = spawn([&] {
    sleep(Milliseconds(10));
    log.push_back("draining");
    char buf[65536];
    while (::read(p.read_fd, buf, sizeof buf) > 0) {
    }
  });
  bool ok = wait_write(p.write_fd, Seconds(5));
  log.push_back(ok ? "writable" : "timed out");
  drainer->join();
  EXPECT_EQ(log, (Log{"draining", "writable"}));
}

TEST_P(IoTest, HangUpWakesReader) {
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.read_fd, [&] { wait_read(p.read_fd); });
    return;
  }
  auto closer = spawn([&] {
    sleep(Milliseconds(10));
    p.CloseWrite();
  });
  EXPECT_TRUE(wait_read(p.read_fd, Seconds(5)));
  EXPECT_EQ(p.Read(), "");  // end of file
  closer->join();
}

TEST_P(IoTest, TwoReadersOnOneDescriptorBothWake) {
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.read_fd, [&] { wait_read(p.read_fd); });
    return;
  }
  int woke = 0;
  auto r = [&] {
    if (wait_read(p.read_fd, Seconds(5))) ++woke;
  };
  GreenletList gs = {spawn(r), spawn(r)};
  sleep(Milliseconds(10));
  EXPECT_EQ(woke, 0);
  ASSERT_TRUE(p.Write("x"));
  joinall(gs);
  EXPECT_EQ(woke, 2);
}

TEST_P(IoTest, TimeoutAndKillInterruptWaitRead) {
  Pipe p;
  if (simulated()) {
    ExpectSimRefuses(p.read_fd, [&] {
      TimeoutScope s(Milliseconds(10));
      wait_read(p.read_fd);
    });
    return;
  }
  EXPECT_THROW(
      {
        TimeoutScope s(Milliseconds(10));
        wait_read(p.read_fd);
      },
      TimeoutError);
  auto g = spawn([&] { wait_read(p.read_fd); });
  sleep(Milliseconds(10));
  EXPECT_FALSE(g->dead());
  g->kill();
  EXPECT_TRUE(g->dead());
  EXPECT_TRUE(g->killed());
  // The watcher was removed: a later write wakes nobody stale, and a new
  // wait works.
  ASSERT_TRUE(p.Write("y"));
  EXPECT_TRUE(wait_read(p.read_fd, Seconds(5)));
}

TEST_P(IoTest, NegativeDescriptorIsInvalidArgument) {
  EXPECT_THROW(wait_read(-1), std::invalid_argument);
  EXPECT_THROW(wait_write(-1), std::invalid_argument);
  EXPECT_THROW(wait_read(-1, Milliseconds(10)), std::invalid_argument);
  try {
    wait_read(-1);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("-1"), std::string::npos) << e.what();
  }
  // Nothing is left registered: the hub still has nothing to do.
  EXPECT_TRUE(wait());
}

TEST_P(IoTest, ClosedDescriptorIsRefused) {
  Pipe p;
  const int fd = p.read_fd;
  p.CloseRead();
  if (simulated()) {
    ExpectSimRefuses(fd, [&] { wait_read(fd, Milliseconds(10)); });
    return;
  }
  EXPECT_THROW(wait_read(fd, Milliseconds(10)), std::invalid_argument);
  EXPECT_TRUE(wait());
}

TEST_P(IoTest, RegularFileIsInvalidArgumentOnEpoll) {
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  const int fd = fileno(f);
  if (simulated()) {
    ExpectSimRefuses(fd, [&] { wait_read(fd, Milliseconds(10)); });
  } else {
    EXPECT_THROW(wait_read(fd, Milliseconds(10)), std::invalid_argument);
  }
  fclose(f);
}

TEST_P(IoTest, SimRefusalLeavesHubUsable) {
  Pipe p;
  if (!simulated()) {
    ASSERT_TRUE(p.Write("z"));
    EXPECT_TRUE(wait_read(p.read_fd, Seconds(5)));
  } else {
    ExpectSimRefuses(p.read_fd, [&] { wait_read(p.read_fd); });
  }
  auto g = spawn([] {
    sleep(Milliseconds(10));
    return 4;
  });
  EXPECT_EQ(g->get(), 4);
  EXPECT_TRUE(wait());  // no watcher left behind
}

GEVENT_INSTANTIATE_BACKENDS(IoTest);

}  // namespace
}  // namespace gevent
