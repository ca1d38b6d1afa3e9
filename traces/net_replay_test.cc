// Recording a program's network I/O on epoll and replaying it on the
// simulator (NetCall records, the replay network).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "runtime/gevent.h"
#include "traces/net_programs.h"
#include "traces/reader.h"
#include "traces/tool.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/trace_testing.h"

namespace gevent {
namespace trace {
namespace {

using testing::FreshEpollHub;
using testing::RecordInChild;
using testing::Tell;
using testing::TempPath;

// The trace's socket calls.
std::vector<Event> NetCalls(const std::string& path) {
  TraceReader r;
  EXPECT_TRUE(r.Open(path)) << r.error();
  std::vector<Event> out;
  Event e;
  while (r.Next(&e)) {
    if (e.kind == kNetCall) out.push_back(e);
  }
  EXPECT_TRUE(r.complete()) << r.error();
  return out;
}

int CountOp(const std::vector<Event>& calls, NetOp op) {
  int n = 0;
  for (const Event& e : calls) n += e.a == static_cast<int64_t>(op);
  return n;
}

constexpr int kClients = 4;
constexpr size_t kBody = 512 * 1024;

// Records the racy service until a run loses an update (every run should:
// the clients' requests are all waiting when the service starts serving,
// and each client's small receive buffer makes the server's sendall wait);
// returns that run's outcome.
programs::ServiceOutcome RecordRacyRun(const std::string& path) {
  programs::ServiceOutcome out;
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::vector<std::thread> clients;
    {
      FreshEpollHub fresh;
      Recording rec(path);
      out = programs::RacyHttpService(kClients, kBody, [&](uint16_t port) {
        clients = programs::HttpClients(port, kClients);
      });
      EXPECT_TRUE(rec.Stop());
    }
    programs::JoinAll(&clients);
    if (out.hits < kClients) return out;
  }
  ADD_FAILURE() << "no recorded run lost an update";
  return out;
}

TEST(NetReplay, RacyServiceReplaysItsFailureIdentically) {
  const std::string path = TempPath("racy_http.gtrace");
  const programs::ServiceOutcome recorded = RecordRacyRun(path);
  ASSERT_LT(recorded.hits, kClients);  // the failure: lost updates
  const std::vector<Event> calls = NetCalls(path);
  EXPECT_EQ(CountOp(calls, NetOp::kAccept), kClients);
  EXPECT_GT(CountOp(calls, NetOp::kSend), kClients);  // sendall had to wait
  // On the simulator: no client, no descriptor; the same schedule, bytes
  // and failure.
  programs::ServiceOutcome replayed;
  Replay replay(path);
  replayed = programs::RacyHttpService(kClients, kBody, [](uint16_t) {});
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_EQ(replayed.hits, recorded.hits);
  EXPECT_EQ(replayed.requests, recorded.requests);
  for (int i = 0; i < kClients; ++i) {
    EXPECT_TRUE(absl::StartsWith(recorded.requests[i], "GET /")) << recorded.requests[i];
  }
}

uint64_t RecordEcho(const std::string& path, int clients, int trips,
                    RecorderOptions options = {}) {
  return programs::RecordEchoOnEpoll(path, clients, trips, 64, options);
}

// Replays `program` against `path`, which is to diverge (the Divergence
// and the EIO failures after it are expected).
template <typename F>
ReplayResult ReplayDiverging(const std::string& path, F program) {
  Replay replay(path);
  try {
    program();
  } catch (const std::exception&) {
  }
  return replay.Finish();
}

TEST(NetReplay, EchoReplaysWithTheRecordedBytes) {
  const std::string path = TempPath("echo.gtrace");
  const uint64_t echoed = RecordEcho(path, 3, 200);
  EXPECT_EQ(echoed, 3u * 200 * 64);
  const std::vector<Event> calls = NetCalls(path);
  uint64_t payload = 0;
  for (const Event& e : calls) {
    if (e.a == static_cast<int64_t>(NetOp::kRecv) && e.b > 0) {
      EXPECT_EQ(e.payload.size(), static_cast<size_t>(e.b));
      payload += e.payload.size();
    }
    if (e.a == static_cast<int64_t>(NetOp::kSend) && e.b > 0) {
      EXPECT_TRUE(e.has_crc);
    }
  }
  EXPECT_EQ(payload, echoed);
  Replay replay(path);
  EXPECT_EQ(programs::EchoService(3, [](uint16_t) {}), echoed);
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
}

// Names resolve on a thread pool on epoll, while other greenlets run; the
// trace has each answer (or error), and the replay gives the program the
// same, at the same point.
struct ResolveOutcome {
  std::vector<std::string> addresses;
  std::string reply;
  std::string error;
  int code = 0;
  int ticks_at_answer = -1;
  bool operator==(const ResolveOutcome& o) const {
    return addresses == o.addresses && reply == o.reply && error == o.error &&
           code == o.code && ticks_at_answer == o.ticks_at_answer;
  }
};

ResolveOutcome ResolveAndConnect() {
  ResolveOutcome out;
  Socket listener(AF_INET, SocketType::kStream);
  listener.bind(Address::Parse("127.0.0.1:0"));
  listener.listen(4);
  const std::string name = "localhost:" + std::to_string(listener.local_address().port());
  int ticks = 0;
  auto ticker = spawn([&ticks] {
    for (int i = 0; i < 20; ++i) {
      sleep(absl::Milliseconds(1));
      ++ticks;
    }
  });
  auto server = spawn([&listener] {
    Socket c = listener.accept();
    const std::string m = c.recv(100);
    c.sendall("re:" + m);
  });
  for (const Address& a : resolve(name)) out.addresses.push_back(a.ToString());
  out.ticks_at_answer = ticks;
  Socket s = create_connection(name);  // resolves again, then connects
  s.sendall("hello");
  while (out.reply.size() < 8) {
    const std::string part = s.recv(100);
    if (part.empty()) break;
    out.reply += part;
  }
  try {
    resolve("no-such-host.invalid:80");
  } catch (const std::system_error& e) {
    out.error = e.what();
    out.code = e.code().value();
  }
  server->join();
  ticker->join();
  return out;
}

TEST(NetReplay, NameResolutionReplaysTheRecordedAnswers) {
  const std::string path = TempPath("resolve.gtrace");
  ResolveOutcome recorded;
  {
    FreshEpollHub fresh;
    Recording rec(path);
    recorded = ResolveAndConnect();
    EXPECT_TRUE(rec.Stop());
  }
  ASSERT_FALSE(recorded.addresses.empty());
  EXPECT_EQ(recorded.reply, "re:hello");
  EXPECT_NE(recorded.error, "");
  const std::vector<Event> calls = NetCalls(path);
  EXPECT_EQ(CountOp(calls, NetOp::kResolve), 3);
  for (const Event& e : calls) {
    if (e.a != static_cast<int64_t>(NetOp::kResolve)) continue;
    if (e.payload == "localhost") {
      EXPECT_EQ(e.b, static_cast<int64_t>(recorded.addresses.size()));
      EXPECT_EQ(e.resolved.size(), recorded.addresses.size());
      EXPECT_NE(DescribeNetCall(e).find("resolve localhost port "), std::string::npos)
          << DescribeNetCall(e);
    } else {
      EXPECT_EQ(e.payload, "no-such-host.invalid");
      EXPECT_LT(e.b, 0);
      EXPECT_EQ(e.text, recorded.error.substr(0, e.text.size()));
    }
  }
  ResolveOutcome replayed;
  Replay replay(path);
  replayed = ResolveAndConnect();
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_EQ(replayed.addresses, recorded.addresses);
  EXPECT_EQ(replayed.reply, recorded.reply);
  EXPECT_EQ(replayed.error, recorded.error);
  EXPECT_EQ(replayed.code, recorded.code);
  EXPECT_EQ(replayed.ticks_at_answer, recorded.ticks_at_answer);
}

// Another name than the recorded one is a divergence that names both.
TEST(NetReplay, ResolvingAnotherNameDiverges) {
  const std::string path = TempPath("resolve_other.gtrace");
  {
    FreshEpollHub fresh;
    Recording rec(path);
    EXPECT_FALSE(resolve("localhost:80").empty());
    EXPECT_TRUE(rec.Stop());
  }
  std::string thrown;
  const ReplayResult r = ReplayDiverging(path, [&] {
    try {
      resolve("localhost:81");
    } catch (const std::system_error& e) {
      thrown = e.what();
    }
  });
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_NE(r.report.find("expected: #"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("resolve localhost port 80 ->"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("(the program calls) resolve localhost port 81"), std::string::npos)
      << r.report;
  EXPECT_NE(thrown.find("resolve 'localhost': the replay stopped"), std::string::npos) << thrown;
}

// A crash mid-run (abort, SIGSEGV) loses no socket record the program
// had the result of: every receive it got back is in the trace, with its
// bytes, and the reader says the trace did not finish.
class NetCrash : public ::testing::TestWithParam<int> {};

TEST_P(NetCrash, LosesNoSocketRecordReturnedToTheProgram) {
  const int sig = GetParam();
  const std::string path = TempPath("net_crash_" + std::to_string(sig) + ".gtrace");
  constexpr int kTrips = 300;
  constexpr size_t kSize = 64;
  int status = 0;
  const uint64_t written = RecordInChild(path, [sig](const std::string& p, int fd) {
    alarm(30);  // a hang fails the test
    FreshEpollHub fresh;
    auto* rec = new Recorder(get_hub(), p);  // never stopped
    Socket listener(AF_INET, SocketType::kStream);
    listener.bind(Address::Parse("127.0.0.1:0"));
    listener.listen(1);
    // A client on a thread: the outside world, sending kTrips messages.
    std::vector<std::thread> clients =
        programs::EchoClients(listener.local_address().port(), 1, kTrips, kSize);
    Socket conn = listener.accept();
    std::string got(kSize, '\0');
    for (int r = 0; r < kTrips; ++r) {
      size_t n = 0;
      while (n < kSize) n += conn.recv(&got[n], kSize - n);
      if (r + 1 < kTrips) conn.sendall(got);  // the last message is not echoed
    }
    Tell(fd, *rec);
    if (sig == SIGSEGV) raise(SIGSEGV);
    abort();
  }, &status);
  EXPECT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
  TraceReader r;
  ASSERT_TRUE(r.Open(path)) << r.error();
  uint64_t events = 0;
  std::string received;  // the payloads of the accepted connection's receives
  int64_t conn_fd = -1;
  Event e;
  while (r.Next(&e)) {
    ++events;
    if (e.kind != kNetCall) continue;
    if (e.a == static_cast<int64_t>(NetOp::kAccept) && e.b == 0) conn_fd = e.new_fd;
    if (e.a == static_cast<int64_t>(NetOp::kRecv) && e.fd == conn_fd && e.b > 0) {
      EXPECT_EQ(e.payload.size(), static_cast<size_t>(e.b));
      received += e.payload;
    }
  }
  EXPECT_FALSE(r.complete());
  EXPECT_NE(r.error().find("did not finish"), std::string::npos) << r.error();
  EXPECT_EQ(events, written);
  // Exactly the bytes the client sent: message r starts with 'a' + r % 26.
  ASSERT_EQ(received.size(), kTrips * kSize);
  for (int i = 0; i < kTrips; ++i) {
    std::string msg(kSize, 'x');
    msg[0] = static_cast<char>('a' + i % 26);
    ASSERT_EQ(received.substr(i * kSize, kSize), msg) << "message " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Signals, NetCrash, ::testing::Values(SIGABRT, SIGSEGV),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGSEGV ? "Segfault" : "Abort");
                         });

// gtrace's output of `path` by `tool` (Stats, Dump).
template <typename F>
std::string ToolOutput(const std::string& path, F tool) {
  std::ostringstream out, err;
  TraceReader r;
  EXPECT_TRUE(r.Open(path)) << r.error();
  EXPECT_EQ(tool(r, out, err), 0) << err.str();
  return out.str();
}

TEST(NetReplay, GtraceShowsSocketCallsPerConnection) {
  const std::string path = TempPath("echo_stats.gtrace");
  RecordEcho(path, 2, 30);
  const std::string stats = ToolOutput(path, Stats);
  // 2 x 30 x 64 bytes each way, all kept; a line per connection.
  EXPECT_TRUE(absl::StrContains(stats, "3840 bytes in (3840 kept), 3840 bytes out"))
      << stats;
  EXPECT_TRUE(absl::StrContains(stats, "in 1920 (kept 1920)  out 1920  from 127.0.0.1:"))
      << stats;
  const std::string dump = ToolOutput(path, Dump);
  EXPECT_TRUE(absl::StrContains(dump, " accept -> fd ")) << dump.substr(0, 3000);
  EXPECT_TRUE(absl::StrContains(dump, " recv 4096 -> 64 bytes \"a")) << dump.substr(0, 3000);
  std::string svg;
  std::ostringstream err;
  TraceReader r;
  ASSERT_TRUE(r.Open(path));
  EXPECT_EQ(TimelineSvg(r, TimelineOptions{}, &svg, err), 0) << err.str();
  EXPECT_TRUE(absl::StrContains(svg, "recv 4096 -&gt; 64 bytes")) << svg.substr(0, 3000);
  // The legend explains the socket markers (only where a trace has them).
  for (const char* item : {">socket: accept, recv (in)<", ">socket: connect, send (out)<",
                           ">socket error<", ">I/O ready<"}) {
    EXPECT_TRUE(absl::StrContains(svg, item)) << item;
  }
}

TEST(NetReplay, SendingOtherBytesIsADivergence) {
  const std::string path = TempPath("echo_wrong.gtrace");
  RecordEcho(path, 2, 20);
  const ReplayResult r = ReplayDiverging(path, [] {
    programs::EchoService(2, [](uint16_t) {}, 4096, /*flip=*/true);
  });
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_TRUE(absl::StrContains(r.report, "with other bytes")) << r.report;
  EXPECT_TRUE(absl::StrContains(r.report, "send 64")) << r.report;
  EXPECT_TRUE(absl::StrContains(r.report, "the last")) << r.report;
}

TEST(NetReplay, AskingForADifferentReadIsADivergence) {
  const std::string path = TempPath("echo_read.gtrace");
  RecordEcho(path, 1, 5);
  const ReplayResult r = ReplayDiverging(path, [] {
    programs::EchoService(1, [](uint16_t) {}, 100);  // recorded: 4096
  });
  EXPECT_EQ(r.status, ReplayStatus::kDiverged);
  EXPECT_TRUE(absl::StrContains(r.report, "(the program calls) fd ")) << r.report;
  EXPECT_TRUE(absl::StrContains(r.report, "recv 100")) << r.report;
  EXPECT_TRUE(absl::StrContains(r.report, "recv 4096")) << r.report;
}

TEST(NetReplay, LengthsOnlyKeepsNoBytesAndReplaySaysSo) {
  const std::string path = TempPath("echo_lengths.gtrace");
  RecorderOptions lengths;
  lengths.payload_bytes_per_connection = 0;
  const uint64_t echoed = RecordEcho(path, 2, 10, lengths);
  for (const Event& e : NetCalls(path)) {
    if (e.a == static_cast<int64_t>(NetOp::kResolve)) {
      // A resolve's payload is the name asked for, not bytes received:
      // kept whatever the policy (a replay matches on it).
      EXPECT_EQ(e.payload, "localhost");
      continue;
    }
    EXPECT_TRUE(e.payload.empty()) << DescribeNetCall(e);
    EXPECT_FALSE(e.has_crc) << DescribeNetCall(e);
  }
  Replay replay(path);
  EXPECT_EQ(programs::EchoService(2, [](uint16_t) {}), echoed);
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
  EXPECT_TRUE(absl::StrContains(r.report, "lacks the bytes of")) << r.report;
}

TEST(NetReplay, CapKeepsTheFirstBytesOfEachConnection) {
  const std::string path = TempPath("echo_cap.gtrace");
  RecorderOptions capped;
  capped.payload_bytes_per_connection = 100;
  RecordEcho(path, 2, 10, capped);
  // Per connection (descriptors are reused: counted from each accept).
  std::map<int64_t, int> connection_of;  // fd -> accept number
  std::map<int, uint64_t> kept;
  int accepts = 0;
  for (const Event& e : NetCalls(path)) {
    if (e.a == static_cast<int64_t>(NetOp::kAccept) && e.b == 0) {
      connection_of[e.new_fd] = accepts++;
    }
    if (e.a == static_cast<int64_t>(NetOp::kRecv)) {
      kept[connection_of.at(e.fd)] += e.payload.size();
    }
  }
  ASSERT_EQ(kept.size(), 2u);
  for (const auto& [fd, n] : kept) EXPECT_EQ(n, 100u) << "fd " << fd;
}

TEST(NetReplay, PrivateConnectionsKeepNothing) {
  const std::string path = TempPath("echo_private.gtrace");
  std::vector<std::thread> threads;
  {
    FreshEpollHub fresh;
    Recording rec(path);
    Socket listener(AF_INET, SocketType::kStream);
    listener.set_bytes_private(true);  // passed on to what it accepts
    listener.bind(Address::Parse("127.0.0.1:0"));
    listener.listen(16);
    threads = programs::EchoClients(listener.local_address().port(), 1, 3, 64);
    Socket conn = listener.accept();
    EXPECT_TRUE(conn.bytes_private());
    char buf[4096];
    for (size_t n; (n = conn.recv(buf, sizeof buf)) > 0;) conn.sendall(buf, n);
  }
  programs::JoinAll(&threads);
  const std::vector<Event> calls = NetCalls(path);
  EXPECT_GT(CountOp(calls, NetOp::kRecv), 1);
  for (const Event& e : calls) {
    EXPECT_TRUE(e.payload.empty()) << DescribeNetCall(e);
    EXPECT_FALSE(e.has_crc) << DescribeNetCall(e);
  }
}

TEST(NetReplay, ConnectRefusedAndErrorsReplay) {
  const std::string path = TempPath("refused.gtrace");
  auto program = [] {
    // A port nobody listens on: bind one, close it, connect to it.
    Address dead;
    {
      Socket s(AF_INET, SocketType::kStream);
      s.bind(Address::Parse("127.0.0.1:0"));
      dead = s.local_address();
    }
    int err = 0;
    Socket c(AF_INET, SocketType::kStream);
    err = c.connect_ex(dead);
    return err;
  };
  int recorded = 0;
  {
    FreshEpollHub fresh;
    Recording rec(path);
    recorded = program();
  }
  EXPECT_EQ(recorded, ECONNREFUSED);
  Replay replay(path);
  EXPECT_EQ(program(), ECONNREFUSED);
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kIdentical) << r.report;
}

TEST(NetReplay, ACutRecordingReplaysItsPrefix) {
  const std::string path = TempPath("echo_cut.gtrace");
  RecordEcho(path, 2, 50);
  const std::string bytes = testing::ReadFile(path);
  const std::string cut_path = TempPath("echo_cut_half.gtrace");
  testing::WriteFile(cut_path, bytes.substr(0, bytes.size() / 2));
  const ReplayResult r =
      ReplayDiverging(cut_path, [] { programs::EchoService(2, [](uint16_t) {}); });
  EXPECT_EQ(r.status, ReplayStatus::kPrefixReplayed) << r.report;
  EXPECT_GT(r.matched, 10u);
}

}  // namespace
}  // namespace trace
}  // namespace gevent
