// 10,000 mutations of valid traces (fixed seed; bit flips, cuts, zero
// tails, chunks of records swapped, repeated or left out, end records
// damaged, and more) through the reader, every gtrace command and (one in
// ten) a replay: nothing may crash or hang, every error is one line, and
// what the reader delivers is always the first events of an original
// (never a wrong event). Run under --config=asan as well.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "sim/simulation.h"
#include "traces/net_programs.h"
#include "traces/recorder.h"
#include "traces/replay.h"
#include "traces/test_programs.h"
#include "traces/tool.h"
#include "traces/trace_testing.h"

namespace gevent {
namespace trace {
namespace {

using testing::FreshEpollHub;
using testing::ReadFile;
using testing::TempPath;
using testing::WriteFile;

constexpr int kMutations = 10000;

std::string Mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  auto below = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  std::string d = seeds[below(seeds.size())];
  const int edits = 1 + static_cast<int>(below(3));
  for (int k = 0; k < edits; ++k) {
    const size_t what = below(14);
    // The framing, for the mutations of whole records (parsing it is most
    // of a mutation's cost: only when needed).
    size_t end_record = d.size();
    std::vector<std::pair<size_t, size_t>> chunks;
    if (what >= 9 && what <= 12) chunks = testing::Chunks(d, &end_record);
    auto chunk = [&](size_t i) {
      return d.substr(chunks[i].first, chunks[i].second - chunks[i].first);
    };
    switch (what) {
      case 0:  // flip a bit
        if (!d.empty()) {
          const size_t at = below(d.size());
          d[at] = static_cast<char>(d[at] ^ (1 << below(8)));
        }
        break;
      case 1:  // a random byte
        if (!d.empty()) d[below(d.size())] = static_cast<char>(rng());
        break;
      case 2:  // truncate
        d.resize(below(d.size() + 1));
        break;
      case 3: {  // delete a range
        const size_t at = below(d.size() + 1);
        d.erase(at, below(64));
        break;
      }
      case 4: {  // duplicate a range
        const size_t at = below(d.size() + 1);
        const std::string piece = d.substr(at, below(128));
        d.insert(below(d.size() + 1), piece);
        break;
      }
      case 5: {  // random bytes
        std::string junk(below(16) + 1, '\0');
        for (char& c : junk) c = static_cast<char>(rng());
        d.insert(below(d.size() + 1), junk);
        break;
      }
      case 6: {  // a huge varint (lengths, times, ids)
        const size_t at = below(d.size() + 1);
        d.insert(at, std::string(below(10) + 1, '\xff'));
        break;
      }
      case 7: {  // splice another trace
        const std::string& other = seeds[below(seeds.size())];
        const size_t cut = below(d.size() + 1);
        d = d.substr(0, cut) + other.substr(below(other.size() + 1));
        break;
      }
      case 8:  // zero a range (a crashed recorder's padding)
        if (!d.empty()) {
          const size_t at = below(d.size());
          for (size_t i = at; i < d.size() && i < at + below(64); ++i) d[i] = 0;
        }
        break;
      case 9:  // swap two chunks of records (each with its checkpoint)
        if (chunks.size() >= 2) {
          const size_t i = below(chunks.size() - 1);
          const size_t j = i + 1 + below(chunks.size() - 1 - i);
          const std::string a = chunk(i), b = chunk(j);
          d = d.substr(0, chunks[i].first) + b +
              d.substr(chunks[i].second, chunks[j].first - chunks[i].second) + a +
              d.substr(chunks[j].second);
        }
        break;
      case 10:  // a chunk twice
        if (!chunks.empty()) {
          const size_t i = below(chunks.size());
          d.insert(chunks[i].second, chunk(i));
        }
        break;
      case 11:  // a chunk left out
        if (!chunks.empty()) {
          const size_t i = below(chunks.size());
          d.erase(chunks[i].first, chunks[i].second - chunks[i].first);
        }
        break;
      case 12:  // a bit of the end record
        if (end_record < d.size()) {
          const size_t at = end_record + below(d.size() - end_record);
          d[at] = static_cast<char>(d[at] ^ (1 << below(8)));
        }
        break;
      case 13:  // cut, then zeros (a crash's zero tail)
        d.replace(below(d.size() + 1), std::string::npos, std::string(below(d.size() + 1) + 1, '\0'));
        break;
    }
  }
  return d;
}

void OneLine(const std::string& s, int i) {
  EXPECT_EQ(s.find('\n'), std::string::npos) << "mutation " << i << ": " << s;
}

template <typename F>
void ReplayRun(const std::string& path, F program) {
  try {
    Replay replay(path);
    try {
      program();
    } catch (const Divergence& d) {
      EXPECT_FALSE(std::string(d.what()).empty());
    } catch (const LoopExit&) {
      // A corrupt trace may starve the program (its greenlets never woken).
    } catch (const TimeoutError&) {
    } catch (const std::system_error&) {
      // A socket call after a divergence (EIO), or an error the trace says.
    }
    replay.Finish();
  } catch (const TraceError& e) {
    OneLine(e.what(), -1);
  }
}

TEST(Mutation, NeverCrashesOrHangs) {
  // The seeds: simulated (seed 0 and a seeded one with decisions), and epoll.
  std::vector<std::string> seeds;
  const std::string p0 = TempPath("seed0.gtrace");
  {
    sim::Simulation sim(0);
    Recording rec(p0);
    programs::Workers();
  }
  seeds.push_back(ReadFile(p0));
  const std::string p1 = TempPath("seed1.gtrace");
  {
    sim::SimOptions o;
    o.seed = 11;
    sim::Simulation sim(o);
    Recording rec(p1);
    programs::Race();
    programs::Failing();
  }
  seeds.push_back(ReadFile(p1));
  const std::string p2 = TempPath("seed2.gtrace");
  {
    FreshEpollHub fresh;
    Recording rec(p2);
    programs::Workers(absl::Microseconds(300));
  }
  seeds.push_back(ReadFile(p2));
  // Socket calls (NetCall records) on epoll.
  const std::string p3 = TempPath("seed3.gtrace");
  programs::RecordEchoOnEpoll(p3, 1, 10, 24);
  seeds.push_back(ReadFile(p3));

  // A watchdog: one mutation must not take more than a minute.
  std::atomic<int> current{-1};
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    int last = -2;
    auto since = std::chrono::steady_clock::now();
    while (!done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const int now = current.load();
      if (now != last) {
        last = now;
        since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - since > std::chrono::seconds(60)) {
        fprintf(stderr, "mutation %d hangs (input in %s)\n", now,
                TempPath("hang.gtrace").c_str());
        fflush(stderr);
        abort();
      }
    }
  });

  // What each seed holds: whatever a mutant delivers must be the first
  // events of one of them (compared field by field), and all of one if it
  // reads as complete.
  std::vector<std::vector<Event>> originals;
  for (const std::string& seed : seeds) {
    TraceReader r;
    EXPECT_TRUE(r.OpenBytes(seed, "seed")) << r.error();
    originals.emplace_back();
    Event e;
    while (r.Next(&e)) originals.back().push_back(e);
    EXPECT_TRUE(r.complete()) << r.error();
  }
  auto is_prefix = [&](const std::vector<Event>& got, bool complete) {
    for (const std::vector<Event>& orig : originals) {
      if (got.size() > orig.size() || (complete && got.size() != orig.size())) continue;
      if (std::equal(got.begin(), got.end(), orig.begin(), testing::Identical)) return true;
    }
    return false;
  };

  std::mt19937_64 rng(20261125);
  uint64_t complete = 0, readable = 0, replays = 0;
  const std::string path = TempPath("mutant.gtrace");
  for (int i = 0; i < kMutations; ++i) {
    current.store(i);
    const std::string data = Mutate(seeds, rng);
    WriteFile(TempPath("hang.gtrace"), data);
    {
      TraceReader r;
      if (r.OpenBytes(data, "mutant")) {
        ++readable;
        std::vector<Event> got;
        Event e;
        while (r.Next(&e)) got.push_back(e);
        EXPECT_TRUE(is_prefix(got, r.complete()))
            << "mutation " << i << " delivered a wrong event (input in "
            << TempPath("wrong.gtrace") << "): " << r.error();
        if (!is_prefix(got, r.complete())) WriteFile(TempPath("wrong.gtrace"), data);
        if (r.complete()) {
          ++complete;
        } else {
          OneLine(r.error(), i);
        }
      } else {
        OneLine(r.error(), i);
      }
    }
    std::ostringstream out, err;
    {
      TraceReader r;
      if (r.OpenBytes(data, "mutant")) Dump(r, out, err);
    }
    {
      TraceReader r;
      if (r.OpenBytes(data, "mutant")) Stats(r, out, err);
    }
    {
      TraceReader a, b;
      if (a.OpenBytes(seeds[static_cast<size_t>(i) % seeds.size()], "orig") &&
          b.OpenBytes(data, "mutant")) {
        Diff(a, b, out, err);
      }
    }
    {
      TraceReader r;
      std::string json;
      if (r.OpenBytes(data, "mutant")) ChromeJson(r, &json, err);
    }
    {
      TraceReader r;
      std::string svg;
      TimelineOptions o;
      o.count = 150;
      if (r.OpenBytes(data, "mutant")) TimelineSvg(r, o, &svg, err);
    }
    if (i % 10 == 0) {
      ++replays;
      WriteFile(path, data);
      // Whatever the trace says, the same program runs against it.
      const int which = i / 10 % 4;
      ReplayRun(path, [which] {
        if (which == 3) programs::EchoService(1, [](uint16_t) {});
        if (which == 0) programs::Workers();
        if (which == 1) {
          programs::Race();
          programs::Failing();
        }
        if (which == 2) programs::Workers(absl::Microseconds(300));
      });
    }
  }
  done.store(true);
  watchdog.join();
  printf("%d mutations: %llu with a readable header, %llu still complete; %llu replays\n",
         kMutations, static_cast<unsigned long long>(readable),
         static_cast<unsigned long long>(complete),
         static_cast<unsigned long long>(replays));
  EXPECT_GT(readable, static_cast<uint64_t>(kMutations) / 2);
  EXPECT_LT(complete, static_cast<uint64_t>(kMutations) / 2);
}

}  // namespace
}  // namespace trace
}  // namespace gevent
