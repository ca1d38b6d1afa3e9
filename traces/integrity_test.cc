// What a damaged trace gives: never a wrong event. Every single-bit flip,
// every truncation (with and without the zeros a crashed writer's file
// system leaves), and chunks of records swapped, repeated or left out, on
// small traces of both backends: the reader delivers a prefix of the
// original's events (compared field by field) and says "corrupt" or
// "truncated" as the damage is.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/net_programs.h"
#include "traces/reader.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/test_programs.h"
#include "traces/trace_testing.h"

namespace gevent {
namespace trace {
namespace {

using testing::FreshEpollHub;
using testing::Frame;
using testing::Frames;
using testing::ReadFile;
using testing::TempPath;
using testing::WriteFile;

struct Trace {
  std::string what;
  std::string data;
  std::vector<Event> events;
  std::vector<Frame> frames;
  size_t header_end = 0;
};

struct Read {
  bool opened = false;
  bool complete = false;
  std::string error;
  std::vector<Event> events;
};

Read ReadBytes(const std::string& data) {
  Read out;
  TraceReader r;
  out.opened = r.OpenBytes(data, "t");
  if (out.opened) {
    Event e;
    while (r.Next(&e)) out.events.push_back(e);
    out.complete = r.complete();
  }
  out.error = r.error();
  return out;
}

// The events delivered are the original's first ones, exactly.
::testing::AssertionResult IsPrefix(const Read& got, const Trace& t) {
  if (got.events.size() > t.events.size()) {
    return ::testing::AssertionFailure()
           << got.events.size() << " events delivered, the original has " << t.events.size();
  }
  for (size_t i = 0; i < got.events.size(); ++i) {
    if (!testing::Identical(got.events[i], t.events[i])) {
      return ::testing::AssertionFailure()
             << "a wrong event at " << i << ": " << FormatLine(got.events[i])
             << "; the original's: " << FormatLine(t.events[i]);
    }
  }
  return ::testing::AssertionSuccess();
}

// The events a checksum covers within the first `n` bytes.
size_t Verified(const Trace& t, size_t n) {
  size_t events = 0, verified = 0;
  for (const Frame& f : t.frames) {
    if (f.end > n) break;
    events += f.events;
    if (f.kind != Frame::kEvent) verified = events;
  }
  return verified;
}

Trace Make(const std::string& what, const std::string& path) {
  Trace t;
  t.what = what;
  t.data = ReadFile(path);
  Read r = ReadBytes(t.data);
  EXPECT_TRUE(r.complete) << what << ": " << r.error;
  t.events = r.events;
  t.frames = Frames(t.data, &t.header_end);
  return t;
}

// Small traces: simulated (a note, an error, decisions) and epoll; each a
// few chunks of records, so that chunks can be moved.
const std::vector<Trace>& Traces() {
  static const std::vector<Trace>* traces = [] {
    auto* v = new std::vector<Trace>;
    {
      const std::string path = TempPath("small_sim.gtrace");
      sim::SimOptions o;
      o.seed = 7;
      sim::Simulation sim(o);
      Recording rec(path);
      programs::Race();
      programs::Failing();
      programs::PingPong(120);
      rec.Stop();
      v->push_back(Make("sim", path));
    }
    {
      const std::string path = TempPath("small_epoll.gtrace");
      FreshEpollHub fresh;
      Recording rec(path);
      programs::Workers(absl::Microseconds(100));
      programs::PingPong(120);
      rec.Stop();
      v->push_back(Make("epoll", path));
    }
    return v;
  }();
  return *traces;
}

TEST(Integrity, TheTracesHaveSeveralChunks) {
  for (const Trace& t : Traces()) {
    size_t checkpoints = 0;
    for (const Frame& f : t.frames) checkpoints += f.kind == Frame::kCheckpoint;
    EXPECT_GE(checkpoints, 3u) << t.what;
    EXPECT_LT(t.data.size(), 6000u) << t.what;
    ASSERT_FALSE(t.frames.empty());
    EXPECT_EQ(t.frames.back().kind, Frame::kEnd);
  }
}

// Every bit of the file: an error that says "corrupt", and a prefix of the
// original's events. (A flip in the magic: not a trace at all.) One test a
// trace, to keep each short under the sanitizers.
void EverySingleBitFlip(const Trace& t) {
  SCOPED_TRACE(t.what);
  size_t failures = 0;
  for (size_t at = 0; at < t.data.size() && failures < 10; ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = t.data;
      bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
      const Read got = ReadBytes(bad);
      const std::string where = absl::StrCat("byte ", at, " bit ", bit, ": ", got.error);
      bool ok = !got.complete;
      if (!got.opened) {
        ok = ok && (absl::StrContains(got.error, "corrupt") ||
                    (at < 8 && absl::StrContains(got.error, "not a geventpp trace")));
      } else {
        ok = ok && absl::StrContains(got.error, "' is corrupt at byte ");
        const auto prefix = IsPrefix(got, t);
        if (!prefix) ADD_FAILURE() << where << ": " << prefix.message();
        ok = ok && prefix;
      }
      if (!ok) {
        ADD_FAILURE() << where << (got.complete ? " (read as complete)" : "");
        ++failures;
      }
    }
  }
}

TEST(Integrity, EverySingleBitFlipOfASimTraceIsCorruptNeverAWrongEvent) {
  EverySingleBitFlip(Traces()[0]);
}

TEST(Integrity, EverySingleBitFlipOfAnEpollTraceIsCorruptNeverAWrongEvent) {
  EverySingleBitFlip(Traces()[1]);
}

// Every length the file can be cut to: "truncated", and exactly the events
// that a checksum within the cut covers.
// An epoll trace of socket calls (NetCall records: payloads, checksums of
// sent bytes, addresses, a name resolved) between the hub's events, with
// work from another thread (the resolver's hand-back).
const Trace& NetTrace() {
  static const Trace* trace = [] {
    const std::string path = TempPath("small_net.gtrace");
    programs::RecordEchoOnEpoll(path, 1, 12, 16);
    return new Trace(Make("net", path));
  }();
  return *trace;
}

TEST(Integrity, EverySingleBitFlipOfASocketTraceIsCorruptNeverAWrongEvent) {
  int calls = 0, resolves = 0, foreign = 0;
  for (const Event& e : NetTrace().events) {
    calls += e.kind == kNetCall;
    resolves += e.kind == kNetCall && e.a == static_cast<int64_t>(NetOp::kResolve);
    foreign += e.kind == HubEventKind::kForeignWork;
  }
  EXPECT_GT(calls, 30);
  EXPECT_EQ(resolves, 1);
  EXPECT_GE(foreign, 1);
  EverySingleBitFlip(NetTrace());
}

TEST(Integrity, EveryTruncationOfASocketTraceDeliversTheVerifiedPrefix) {
  const Trace& t = NetTrace();
  size_t failures = 0;
  for (size_t n = t.header_end; n < t.data.size() && failures < 10; ++n) {
    const Read got = ReadBytes(t.data.substr(0, n));
    const bool ok = got.opened && !got.complete &&
                    absl::StrContains(got.error, "' is truncated at byte ") &&
                    IsPrefix(got, t) && got.events.size() == Verified(t, n);
    if (!ok) {
      ADD_FAILURE() << "cut at " << n << ": " << got.events.size() << " events, "
                    << Verified(t, n) << " verified; " << got.error;
      ++failures;
    }
  }
}

TEST(Integrity, EveryTruncationDeliversTheVerifiedPrefix) {
  for (const Trace& t : Traces()) {
    SCOPED_TRACE(t.what);
    size_t failures = 0;
    for (size_t n = 0; n < t.data.size() && failures < 10; ++n) {
      const Read got = ReadBytes(t.data.substr(0, n));
      const std::string where = absl::StrCat("cut at ", n, ": ", got.error);
      bool ok = !got.complete;
      if (!got.opened) {
        ok = ok && n < t.header_end &&
             (absl::StrContains(got.error, "truncated in the header") ||
              absl::StrContains(got.error, "is empty"));
      } else {
        ok = ok && absl::StrContains(got.error, "' is truncated at byte ") &&
             IsPrefix(got, t) && got.events.size() == Verified(t, n);
        if (got.events.size() != Verified(t, n)) {
          ADD_FAILURE() << where << ": " << got.events.size() << " events, "
                        << Verified(t, n) << " verified";
        }
      }
      if (!ok) {
        ADD_FAILURE() << where;
        ++failures;
      }
    }
  }
}

// A file cut anywhere and followed by zeros (a crash on some file systems
// leaves the file's size but not its last bytes): "truncated", the
// verified prefix, never a record made of the zeros.
TEST(Integrity, EveryCutFollowedByZerosIsTruncated) {
  for (const Trace& t : Traces()) {
    SCOPED_TRACE(t.what);
    size_t failures = 0;
    for (size_t n = 8; n < t.data.size() && failures < 10; ++n) {
      for (size_t zeros : {size_t{4}, size_t{64}, t.data.size() - n + 4}) {
        const std::string bad = t.data.substr(0, n) + std::string(zeros, '\0');
        // Bytes the zeros happen to restore count as the original's.
        size_t same = 0;
        while (same < bad.size() && same < t.data.size() && bad[same] == t.data[same]) ++same;
        const Read got = ReadBytes(bad);
        const std::string where = absl::StrCat("cut at ", n, " + ", zeros, " zeros: ", got.error);
        bool ok = !got.complete;
        if (same == t.data.size()) {
          // The original ended in zeros and the cut fell among them: the
          // zeros rebuild the whole file, and zeros after the end record
          // are a complete trace (a preallocated file's tail).
          ok = got.complete && got.error.empty() && IsPrefix(got, t) &&
               got.events.size() == t.events.size();
        } else if (!got.opened) {
          ok = ok && n < t.header_end && absl::StrContains(got.error, "truncated in the header");
        } else {
          ok = ok && absl::StrContains(got.error, "' is truncated at byte ") &&
               IsPrefix(got, t) && got.events.size() == Verified(t, same);
        }
        if (!ok) {
          ADD_FAILURE() << where << " (" << got.events.size() << " events, "
                        << Verified(t, same) << " verified)";
          ++failures;
        }
      }
    }
  }
}

// Zeros after the end record (a preallocated file's tail) leave a trace
// complete; anything else after it is corruption.
TEST(Integrity, ZerosAfterTheEndRecordAreACompleteTrace) {
  for (const Trace& t : Traces()) {
    SCOPED_TRACE(t.what);
    for (size_t zeros : {size_t{1}, size_t{4}, size_t{4096}}) {
      const Read got = ReadBytes(t.data + std::string(zeros, '\0'));
      EXPECT_TRUE(got.complete) << zeros << " zeros: " << got.error;
      EXPECT_EQ(got.events.size(), t.events.size());
      EXPECT_TRUE(IsPrefix(got, t));
    }
    const Read junk = ReadBytes(t.data + std::string(3, '\0') + "x");
    EXPECT_FALSE(junk.complete);
    EXPECT_TRUE(absl::StrContains(junk.error, "unexpected data after the end record"))
        << junk.error;
  }
}

// The chunks of records (each up to and with its checkpoint).
std::vector<std::string> Chunks(const Trace& t, std::string* end) {
  size_t end_record = 0;
  std::vector<std::string> chunks;
  for (const auto& [from, to] : testing::Chunks(t.data, &end_record)) {
    chunks.push_back(t.data.substr(from, to - from));
  }
  *end = t.data.substr(end_record);
  return chunks;
}

void ExpectCorruptPrefix(const Trace& t, const std::string& bad, const std::string& what) {
  const Read got = ReadBytes(bad);
  EXPECT_TRUE(got.opened) << what;
  EXPECT_FALSE(got.complete) << what;
  EXPECT_TRUE(absl::StrContains(got.error, "' is corrupt at byte ")) << what << ": " << got.error;
  EXPECT_TRUE(IsPrefix(got, t)) << what;
}

// Whole chunks, each with its valid checkpoint, in another order, twice,
// or left out; the end record moved; another recording's header.
TEST(Integrity, ChunksSwappedRepeatedOrLeftOutAreCorrupt) {
  for (const Trace& t : Traces()) {
    SCOPED_TRACE(t.what);
    std::string end;
    const std::vector<std::string> chunks = Chunks(t, &end);
    ASSERT_GE(chunks.size(), 3u);
    const std::string header = t.data.substr(0, t.header_end);
    auto join = [&](const std::vector<std::string>& cs, const std::string& tail) {
      std::string s = header;
      for (const std::string& c : cs) s += c;
      return s + tail;
    };
    ASSERT_EQ(join(chunks, end), t.data);
    for (size_t i = 0; i < chunks.size(); ++i) {
      for (size_t j = i + 1; j < chunks.size(); ++j) {
        std::vector<std::string> swapped = chunks;
        std::swap(swapped[i], swapped[j]);
        ExpectCorruptPrefix(t, join(swapped, end), absl::StrCat("swap ", i, " and ", j));
      }
      std::vector<std::string> twice = chunks;
      twice.insert(twice.begin() + static_cast<std::ptrdiff_t>(i), chunks[i]);
      ExpectCorruptPrefix(t, join(twice, end), absl::StrCat("chunk ", i, " twice"));
      std::vector<std::string> without = chunks;
      without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
      ExpectCorruptPrefix(t, join(without, end), absl::StrCat("without chunk ", i));
      std::vector<std::string> early = chunks;
      early.insert(early.begin() + static_cast<std::ptrdiff_t>(i), end);
      ExpectCorruptPrefix(t, join(early, end), absl::StrCat("the end record before chunk ", i));
    }
    std::vector<std::string> last_gone = chunks;
    last_gone.pop_back();
    ExpectCorruptPrefix(t, join(last_gone, end), "the last chunk left out before the end");
  }
  // The same events recorded twice differ only in the header (its start
  // time): one's records after the other's header do not match it.
  std::string a, b;
  for (std::string* out : {&a, &b}) {
    const std::string path = TempPath("twice.gtrace");
    sim::Simulation sim(0);
    {
      Recording rec(path);
      programs::PingPong(300);
    }
    *out = ReadFile(path);
  }
  size_t header_a = 0, header_b = 0;
  testing::Frames(a, &header_a);
  testing::Frames(b, &header_b);
  ASSERT_NE(a.substr(0, header_a), b.substr(0, header_b));
  const Read got = ReadBytes(a.substr(0, header_a) + b.substr(header_b));
  EXPECT_FALSE(got.complete);
  EXPECT_TRUE(got.events.empty());
  EXPECT_TRUE(absl::StrContains(got.error, "is corrupt at byte")) << got.error;
}

// The case: a trace cut inside a note and followed by zeros
// replays its verified prefix ("prefix replayed"), not a note of zeros.
TEST(Integrity, ZeroTailReplaysThePrefix) {
  const std::string path = TempPath("note.gtrace");
  {
    sim::Simulation sim(0);
    Recording rec(path);
    programs::PingPong(300);
    programs::Failing();
  }
  Trace t = Make("failing", path);
  size_t note_at = 0;
  for (size_t i = 0, index = 0; i < t.frames.size(); index += t.frames[i++].events) {
    if (t.frames[i].kind == Frame::kEvent && t.events[index].kind == HubEventKind::kNote) {
      note_at = t.frames[i].begin + (t.frames[i].end - t.frames[i].begin) / 2;
      break;
    }
  }
  ASSERT_GT(note_at, 0u);
  const std::string cut = TempPath("note_cut.gtrace");
  WriteFile(cut, t.data.substr(0, note_at) + std::string(t.data.size() - note_at, '\0'));
  Replay replay(cut);
  try {
    programs::PingPong(300);
    programs::Failing();
  } catch (const Divergence& d) {
    EXPECT_TRUE(d.trace_ended()) << d.what();
  }
  const ReplayResult r = replay.Finish();
  EXPECT_EQ(r.status, ReplayStatus::kPrefixReplayed) << r.report;
  EXPECT_EQ(r.matched, Verified(t, note_at));
  EXPECT_TRUE(absl::StrContains(r.report, "zero bytes from byte")) << r.report;
}

}  // namespace
}  // namespace trace
}  // namespace gevent
