#include "traces/tool.h"

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/network_observer.h"
#include "traces/internal/files.h"
#include "traces/replay.h"
#include "traces/trace.pb.h"

namespace gevent {
namespace trace {
namespace {

constexpr int64_t kMaxTimeNs = int64_t{1} << 62;

int64_t SaneTime(int64_t t) {
  if (t < 0) return 0;
  return t > kMaxTimeNs ? kMaxTimeNs : t;
}

std::string HeaderLine(const TraceReader& r) {
  const proto::Header& h = r.header();
  std::string s = absl::StrCat("# trace '", Printable(r.name()), "': format ",
                               h.format_version(), ", program '",
                               Printable(h.program()), "'");
  if (!h.build_id().empty()) absl::StrAppend(&s, " (build ", Printable(h.build_id()), ")");
  absl::StrAppend(&s, ", backend ", Printable(h.backend()));
  if (h.backend() == "sim") {
    absl::StrAppend(&s, ", seed ", h.seed(), ", max jitter ",
                    FormatDuration(h.max_jitter_ns()));
  }
  absl::StrAppend(&s, ", recorded ",
                  absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                   absl::FromUnixNanos(h.start_unix_ns()),
                                   absl::UTCTimeZone()));
  return s;
}

std::string JsonString(const std::string& s) {
  std::string v = ValidUtf8(s);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Xml(const std::string& s) {
  std::string v = ValidUtf8(s);
  std::string out;
  for (char c : v) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  // Do not cut a UTF-8 sequence in half (ValidUtf8 would show '?').
  size_t k = n;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xc0) == 0x80) --k;
  return s.substr(0, k) + "...";
}

// "" if the trace was read completely, else a note for the output.
std::string EndNote(const TraceReader& r) {
  if (r.complete()) return "";
  return absl::StrCat("incomplete trace: ", r.error());
}

int Finish(const TraceReader& r, std::ostream& err) {
  if (r.complete()) return 0;
  err << "gtrace: " << Printable(r.error()) << "\n";
  return 1;
}

}  // namespace

// ---------------------------------------------------------------- dump

int Dump(TraceReader& r, std::ostream& out, std::ostream& err) {
  out << HeaderLine(r) << "\n";
  Event e;
  while (r.Next(&e)) out << FormatLine(e) << "\n";
  if (r.complete()) {
    out << "# end of trace: " << r.delivered() << " records\n";
    return 0;
  }
  out << "# the readable prefix ends here, after " << r.delivered()
      << " records\n";
  err << "gtrace: " << Printable(r.error()) << "\n";
  return 1;
}

// ---------------------------------------------------------------- stats

namespace {

// Socket traffic per connection, for stats (NetCall records).
class NetStats {
 public:
  void Add(const Event& e) {
    const auto op = static_cast<NetOp>(e.a);
    ++calls_;
    if (op == NetOp::kOpen) {
      if (e.b >= 0) Begin(e.b, e.time_ns, "");
      return;
    }
    if (op == NetOp::kAccept) {
      if (e.b == 0) Begin(e.new_fd, e.time_ns, absl::StrCat("from ", AddressText(e.address)));
      return;
    }
    Conn* c = Find(e.fd, e.time_ns);
    if (op == NetOp::kConnect && !e.address.empty()) {
      c->what = absl::StrCat("to ", AddressText(e.address));
    }
    if ((op == NetOp::kRecv || op == NetOp::kRecvFrom) && e.b > 0) {
      c->in += static_cast<uint64_t>(e.b);
      c->kept += e.payload.size();
      in_ += static_cast<uint64_t>(e.b);
      kept_ += e.payload.size();
    }
    if ((op == NetOp::kSend || op == NetOp::kSendTo) && e.b > 0) {
      c->out += static_cast<uint64_t>(e.b);
      out_ += static_cast<uint64_t>(e.b);
    }
    if (e.b < 0 && e.b != -EAGAIN && e.b != -EINPROGRESS) ++c->errors;
    c->last = e.time_ns;
    if (op == NetOp::kClose) open_.erase(e.fd);
  }

  void Print(std::ostream& out) const {
    if (calls_ == 0) return;
    out << "sockets:    " << calls_ << " calls, " << conns_.size() + dropped_
        << " sockets; " << in_ << " bytes in (" << kept_ << " kept), " << out_
        << " bytes out\n";
    size_t shown = 0;
    for (const Conn& c : conns_) {
      if (shown++ == kShown) {
        out << "  ... " << conns_.size() + dropped_ - kShown << " more\n";
        break;
      }
      char line[160];
      snprintf(line, sizeof line, "  fd %-5" PRId64 " %s..%s  in %" PRIu64 " (kept %" PRIu64
               ")  out %" PRIu64 "%s",
               c.fd, FormatTime(c.first).c_str(), FormatTime(c.last).c_str(), c.in, c.kept,
               c.out, c.errors > 0 ? absl::StrCat("  errors ", c.errors).c_str() : "");
      out << line << (c.what.empty() ? "" : "  ") << c.what << "\n";
    }
  }

 private:
  static constexpr size_t kShown = 20;
  static constexpr size_t kKept = 10000;  // memory stays bounded
  struct Conn {
    int64_t fd = -1;
    int64_t first = 0, last = 0;
    uint64_t in = 0, out = 0, kept = 0, errors = 0;
    std::string what;
  };
  void Begin(int64_t fd, int64_t t, std::string what) {
    if (conns_.size() == kKept) {
      ++dropped_;
      open_.erase(fd);
      return;
    }
    Conn c;
    c.fd = fd;
    c.first = c.last = t;
    c.what = std::move(what);
    open_[fd] = conns_.size();
    conns_.push_back(std::move(c));
  }
  Conn* Find(int64_t fd, int64_t t) {
    auto it = open_.find(fd);
    if (it != open_.end()) return &conns_[it->second];
    // Opened before the recording started (or beyond kKept): the scratch.
    scratch_ = Conn{};
    scratch_.fd = fd;
    scratch_.first = t;
    return &scratch_;
  }
  uint64_t calls_ = 0, in_ = 0, out_ = 0, kept_ = 0, dropped_ = 0;
  std::vector<Conn> conns_;
  std::map<int64_t, size_t> open_;  // fd -> its entry, while open
  Conn scratch_;
};

}  // namespace

int Stats(TraceReader& r, std::ostream& out, std::ostream& err) {
  NetStats net;
  std::map<int, uint64_t> per_kind;
  uint64_t spawned = 0;  // (a count, not a set: memory stays flat)
  uint64_t finished[3] = {0, 0, 0};
  int64_t last_time = 0;
  uint64_t n = 0;
  Event e;
  while (r.Next(&e)) {
    ++n;
    ++per_kind[static_cast<int>(e.kind)];
    last_time = e.time_ns;
    if (e.kind == HubEventKind::kSpawn) ++spawned;
    if (e.kind == HubEventKind::kFinish && e.a >= 0 && e.a <= 2) ++finished[e.a];
    if (e.kind == kNetCall) net.Add(e);
  }
  const proto::Header& h = r.header();
  out << "trace:      " << Printable(r.name()) << " (" << r.file_size()
      << " bytes, "
      << (r.complete() ? "complete" : "INCOMPLETE: " + Printable(r.error()))
      << ")\n";
  out << "program:    " << Printable(h.program());
  if (!h.build_id().empty()) out << " (build " << Printable(h.build_id()) << ")";
  out << "\nbackend:    " << Printable(h.backend());
  if (h.backend() == "sim") {
    out << ", seed " << h.seed() << ", max jitter "
        << FormatDuration(h.max_jitter_ns());
  }
  char per[32];
  snprintf(per, sizeof per, "%.2f",
           n == 0 ? 0.0 : static_cast<double>(r.file_size()) / static_cast<double>(n));
  out << "\nrecords:    " << n << " (" << per << " bytes/record)\n";
  out << "duration:   " << FormatDuration(last_time) << " of trace time\n";
  out << "greenlets:  " << spawned << " spawned, "
      << (finished[0] + finished[1] + finished[2]) << " finished ("
      << finished[0] << " returned, " << finished[1] << " failed, "
      << finished[2] << " killed)\n";
  net.Print(out);
  out << "per kind:\n";
  for (const auto& [kind, count] : per_kind) {
    char line[64];
    snprintf(line, sizeof line, "  %-15s %" PRIu64 "\n",
             KindName(static_cast<HubEventKind>(kind)), count);
    out << line;
  }
  return Finish(r, err);
}

// ---------------------------------------------------------------- diff

int Diff(TraceReader& a, TraceReader& b, std::ostream& out, std::ostream& err) {
  (void)err;
  const bool compare_times = a.backend() == "sim" && b.backend() == "sim";
  std::deque<std::string> history;
  uint64_t n = 0;
  auto end_of = [](const TraceReader& r, const char* which) {
    return r.complete()
               ? absl::StrCat("(the end of ", which, ")")
               : absl::StrCat("(the end of ", which,
                              "'s readable data: ", Printable(r.error()), ")");
  };
  for (;;) {
    const Event* ea = a.Peek();
    const Event* eb = b.Peek();
    if (ea == nullptr && eb == nullptr) {
      if (a.complete() && b.complete()) {
        out << "identical (" << n << " records)\n";
        return 0;
      }
      out << "the " << n << " records both have are identical, but ";
      if (!a.complete()) out << "A: " << Printable(a.error());
      if (!a.complete() && !b.complete()) out << "; ";
      if (!b.complete()) out << "B: " << Printable(b.error());
      out << "\n";
      return 1;
    }
    if (ea == nullptr || eb == nullptr || !SameEvent(*ea, *eb, compare_times)) {
      const std::string headline = absl::StrCat(
          "traces diverge at record ", n, " (expected: A '",
          Printable(a.name()), "', actual: B '", Printable(b.name()), "'):");
      out << DivergenceReport(headline, ea ? FormatLine(*ea) : end_of(a, "A"),
                              eb ? FormatLine(*eb) : end_of(b, "B"), history)
          << "\n";
      return 1;
    }
    if (history.size() == kHistoryEvents) history.pop_front();
    history.push_back(FormatLine(*ea));
    Event skip;
    a.Next(&skip);
    b.Next(&skip);
    ++n;
  }
}

// ---------------------------------------------------------------- model

namespace {

// Who runs when: spans on the greenlet lanes and on the hub, derived from
// the records (a greenlet runs from the switch into it until the next event
// only the hub emits). Times are the exporter's (event indexes otherwise).
struct Span {
  size_t from;  // event index
  size_t to;    // event index where it ended (exclusive end position)
  bool hub;
  uint64_t greenlet;
  int64_t from_ts, to_ts;
};

struct Wake {
  size_t cause;   // hub-side event that woke it
  size_t target;  // the switch
  int64_t cause_ts, target_ts;
};

// The same, one event at a time (a trace is read as a stream).
class Runs {
 public:
  // Who runs before event `from`, from the events before it (main at the
  // start of a trace).
  static void Track(const Event& e, bool* hub_running, uint64_t* running) {
    if (e.kind == HubEventKind::kSwitch) {
      *hub_running = false;
      *running = e.greenlet;
    } else if (IsHubSide(e.kind)) {
      *hub_running = true;
    }
  }
  Runs(size_t from, int64_t from_ts, bool hub_running, uint64_t running)
      : since_(from), since_ts_(from_ts), hub_running_(hub_running), running_(running) {}

  // Event `i` at `ts`; `on_span` and `on_wake` get what it completes.
  template <typename OnSpan, typename OnWake>
  void Add(size_t i, int64_t ts, const Event& e, OnSpan on_span, OnWake on_wake) {
    if (!IsHubSide(e.kind)) return;
    if (e.kind == HubEventKind::kSwitch) {
      if (i > since_) on_span(Span{since_, i, hub_running_, running_, since_ts_, ts});
      // Without a recorded cause (callbacks are usually not recorded) the
      // hub woke it by a callback at the switch itself.
      on_wake(cause_ != SIZE_MAX ? Wake{cause_, i, cause_ts_, ts} : Wake{i, i, ts, ts});
      cause_ = SIZE_MAX;
      hub_running_ = false;
      running_ = e.greenlet;
      since_ = i;
      since_ts_ = ts;
      return;
    }
    if (!hub_running_) {
      on_span(Span{since_, i, false, running_, since_ts_, ts});
      hub_running_ = true;
      since_ = i;
      since_ts_ = ts;
    }
    if (e.kind != HubEventKind::kTimeAdvanced) {
      cause_ = i;
      cause_ts_ = ts;
    }
  }
  // The events end before `to` (at `to_ts`).
  template <typename OnSpan>
  void End(size_t to, int64_t to_ts, OnSpan on_span) {
    if (to > since_) on_span(Span{since_, to, hub_running_, running_, since_ts_, to_ts});
  }

 private:
  size_t since_;
  int64_t since_ts_;
  bool hub_running_;
  uint64_t running_;
  size_t cause_ = SIZE_MAX;
  int64_t cause_ts_ = 0;
};

// Lanes in order of appearance: the hub first, then main, then greenlets.
struct Lanes {
  static constexpr size_t kMax = 48;
  std::vector<uint64_t> order;  // greenlet ids (the hub is row 0, not here)
  std::unordered_map<uint64_t, size_t> row;  // id -> row (1-based)
  std::unordered_map<uint64_t, std::string> names;
  size_t dropped = 0;
  std::set<uint64_t> dropped_ids;

  bool Add(uint64_t id) {
    if (id == kHubGreenlet || row.count(id) != 0) return true;
    if (order.size() >= kMax) {
      if (dropped_ids.size() < 100000 && dropped_ids.insert(id).second) ++dropped;
      return false;
    }
    order.push_back(id);
    row[id] = order.size();
    return true;
  }
  // 0 for the hub; -1 if not drawn.
  int RowOf(uint64_t id) const {
    if (id == kHubGreenlet) return 0;
    auto it = row.find(id);
    return it == row.end() ? -1 : static_cast<int>(it->second);
  }
};

std::string LaneLabel(uint64_t id, const std::unordered_map<uint64_t, std::string>& names) {
  std::string s = GreenletName(id);
  auto it = names.find(id);
  if (it != names.end() && !IsDefaultName(it->second, id)) {
    absl::StrAppend(&s, " ", Clip(it->second, 20));
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------- chrome

// Written as the trace is read: the output's metadata ("otherData") comes
// last, and a greenlet's track is named when it is first seen (again if it
// is renamed). Only the live greenlets' names are kept.
int ChromeJson(TraceReader& r, std::ostream& o, std::ostream& err) {
  auto us = [](int64_t ns) {
    char buf[48];
    snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
    return std::string(buf);
  };
  // Greenlet g's track is g + 2 (the hub's is 1, main's 2).
  auto tid_of = [](uint64_t id) {
    return id == kHubGreenlet ? std::string("1") : absl::StrCat(id + 2);
  };
  bool first = true;
  auto add = [&](const std::string& item) {
    o << (first ? "" : ",\n") << item;
    first = false;
  };
  // The live greenlets seen, and their names: forgotten after their last span.
  std::unordered_set<uint64_t> seen;
  std::unordered_map<uint64_t, std::string> names;
  std::vector<uint64_t> ended;
  auto name_track = [&](uint64_t id) {
    const std::string t = tid_of(id);
    add(absl::StrCat("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":", t,
                     ",\"args\":{\"name\":", JsonString(LaneLabel(id, names)), "}}"));
    add(absl::StrCat("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":", t,
                     ",\"args\":{\"sort_index\":", t, "}}"));
  };
  o << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  add(absl::StrCat("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":",
                   JsonString(absl::StrCat(r.header().program(), " (",
                                           r.header().backend(), ")")),
                   "}}"));
  add("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"hub\"}}");
  add("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"sort_index\":0}}");
  seen.insert(0);
  name_track(0);  // main

  // Running spans: greenlets, and the hub's work, one slice per hub event.
  auto span = [&](const Span& s) {
    if (!s.hub) {
      add(absl::StrCat("{\"name\":", JsonString(LaneLabel(s.greenlet, names)),
                       ",\"cat\":\"run\",\"ph\":\"X\",\"pid\":1,\"tid\":", tid_of(s.greenlet),
                       ",\"ts\":", us(s.from_ts), ",\"dur\":", us(s.to_ts - s.from_ts),
                       ",\"args\":{\"record\":", s.from, "}}"));
    }
    for (uint64_t id : ended) {
      seen.erase(id);
      names.erase(id);
    }
    ended.clear();
  };
  // Wake-ups as flow arrows from the hub's slice to the greenlet's.
  uint64_t flow = 1;
  uint64_t woken = 0;
  auto wake = [&](const Wake& w) {
    add(absl::StrCat("{\"name\":\"wake\",\"cat\":\"wake\",\"ph\":\"s\",\"id\":", flow,
                     ",\"pid\":1,\"tid\":1,\"ts\":", us(w.cause_ts), "}"));
    add(absl::StrCat("{\"name\":\"wake\",\"cat\":\"wake\",\"ph\":\"f\",\"bp\":\"e\",\"id\":",
                     flow, ",\"pid\":1,\"tid\":", tid_of(woken), ",\"ts\":", us(w.target_ts), "}"));
    ++flow;
  };
  Runs runs(0, 0, false, 0);
  // Strictly increasing timestamps (ns): events at the same instant (the
  // simulator's are) are spread 1 ns apart so that spans have a width. A
  // hub event's slice lasts until the next event: one event of lookahead.
  Event e, next;
  bool have = r.Next(&e);
  int64_t ts = have ? SaneTime(e.time_ns) : 0;
  size_t i = 0;
  for (; have; ++i) {
    const bool have_next = r.Next(&next);
    const int64_t next_ts = have_next ? std::max(SaneTime(next.time_ns), ts + 1) : ts + 1;
    if (HasGreenlet(e.kind) && e.greenlet != kHubGreenlet) {
      const bool fresh = seen.insert(e.greenlet).second;
      bool renamed = false;
      if (e.kind == HubEventKind::kSpawn ||
          (e.kind == HubEventKind::kFinish && !e.name.empty())) {
        auto it = names.find(e.greenlet);
        renamed = it == names.end() || it->second != e.name;
        names[e.greenlet] = e.name;
      }
      if (fresh || renamed) name_track(e.greenlet);
      if (e.kind == HubEventKind::kFinish) ended.push_back(e.greenlet);
    }
    woken = e.greenlet;
    runs.Add(i, ts, e, span, wake);
    const std::string what = JsonString(Clip(Describe(e), 200));
    if (IsHubSide(e.kind) && e.kind != HubEventKind::kSwitch) {
      add(absl::StrCat("{\"name\":", JsonString(KindName(e.kind)),
                       ",\"cat\":\"hub\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":",
                       us(ts), ",\"dur\":", us(next_ts - ts),
                       ",\"args\":{\"record\":", i, ",\"what\":", what, "}}"));
    } else if (e.kind != HubEventKind::kSwitch) {
      std::string name = KindName(e.kind);
      if (e.kind == HubEventKind::kFinish && e.a == 1) name = "FAILED: " + Clip(e.text, 80);
      add(absl::StrCat("{\"name\":", JsonString(name),
                       ",\"cat\":\"event\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":",
                       HasGreenlet(e.kind) ? tid_of(e.greenlet) : "1", ",\"ts\":", us(ts),
                       ",\"args\":{\"record\":", i, ",\"what\":", what, "}}"));
    }
    e = std::move(next);
    ts = next_ts;
    have = have_next;
  }
  runs.End(i, ts, span);
  o << "\n],\n\"otherData\":{";
  o << "\"program\":" << JsonString(r.header().program())
    << ",\"backend\":" << JsonString(r.header().backend()) << ",\"seed\":" << r.header().seed()
    << ",\"records\":" << i << ",\"status\":"
    << JsonString(r.complete() ? "complete" : "incomplete trace: " + r.error()) << "}}\n";
  return Finish(r, err);
}

int ChromeJson(TraceReader& r, std::string* json, std::ostream& err) {
  std::ostringstream o;
  const int rc = ChromeJson(r, o, err);
  *json = o.str();
  return rc;
}

// ---------------------------------------------------------------- timeline

namespace {

const char* kLaneColors[] = {"#4878b8", "#3f9b6e", "#8a5cb8", "#c0793a",
                             "#3a9bb0", "#b8506e", "#6b8e23", "#7a6a58"};

std::string Num(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// "+15.37ms", "+2.5s", "+0": a time label that fits between grid lines.
std::string ShortTime(int64_t ns) {
  if (ns <= 0) return "+0";
  char buf[32];
  const double v = static_cast<double>(ns);
  if (ns < 1000) {
    snprintf(buf, sizeof buf, "+%lldns", static_cast<long long>(ns));
  } else if (ns < 1000000) {
    snprintf(buf, sizeof buf, "+%.4gus", v / 1e3);
  } else if (ns < 1000000000) {
    snprintf(buf, sizeof buf, "+%.4gms", v / 1e6);
  } else {
    snprintf(buf, sizeof buf, "+%.5gs", v / 1e9);
  }
  return buf;
}

// Text on a white halo, readable over spans and lines.
const char kHalo[] = " stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\" stroke-linejoin=\"round\"";

// An error finish, or a failure note (kFailureNotePrefix).
bool IsFailure(const Event& e) {
  return (e.kind == HubEventKind::kFinish && e.a == 1) ||
         (e.kind == HubEventKind::kNote && absl::StartsWith(e.text, kFailureNotePrefix));
}

bool Minor(HubEventKind k) {
  switch (k) {
    case HubEventKind::kCallback:
    case HubEventKind::kTimerStarted:
    case HubEventKind::kLinkNotified:
    case HubEventKind::kIdle:
    case HubEventKind::kDecision:
      return true;
    default:
      return false;
  }
}

}  // namespace

int TimelineSvg(TraceReader& r, const TimelineOptions& options,
                std::string* svg, std::ostream& err) {
  // Three passes over the trace (it is read as a stream; memory holds the
  // window only): how long it is and where it first fails; the window and
  // who runs at its start; the drawn greenlets' names and lifetimes.
  size_t n = 0;
  size_t failure = SIZE_MAX;
  Event failed;
  Event e;
  // The record of each mark (by decision ordinal), and its label.
  std::map<uint64_t, const std::string*> wanted;
  for (const TimelineOptions::Mark& m : options.marks) wanted[m.decision] = &m.label;
  std::map<size_t, std::string> marked;
  uint64_t decisions = 0;
  while (r.Next(&e)) {
    if (failure == SIZE_MAX && IsFailure(e)) {
      failure = n;
      failed = e;
    }
    if (e.kind == HubEventKind::kDecision) {
      auto it = wanted.find(decisions++);
      if (it != wanted.end()) marked[n] = *it->second;
    }
    ++n;
  }
  // The window.
  size_t count = options.count <= 0 ? 400 : static_cast<size_t>(std::min<int64_t>(options.count, 5000));
  size_t from;
  if (options.from < 0 && !marked.empty()) {
    // From a little before the first mark through the failure (or the last
    // mark), if that fits.
    const size_t first = marked.begin()->first;
    const size_t last = std::max(marked.rbegin()->first, failure == SIZE_MAX ? 0 : failure);
    from = first > 12 ? first - 12 : 0;
    count = std::min<size_t>(last + 24 - from, 5000);
  } else if (options.from >= 0) {
    from = std::min<size_t>(static_cast<size_t>(options.from), n);
  } else if (failure != SIZE_MAX && failure + 1 > count) {
    // End a little after the failure.
    const size_t end = std::min(n, failure + std::max<size_t>(count / 8, 1));
    from = end > count ? end - count : 0;
  } else {
    from = 0;
  }
  size_t to = std::min(n, from + count);

  std::vector<Event> win;
  bool hub_running = false;
  uint64_t running = 0;
  Lanes lanes;
  lanes.Add(0);
  if (!r.Rewind()) return Finish(r, err);
  for (size_t i = 0; i < to && r.Next(&e); ++i) {
    if (i < from) {
      Runs::Track(e, &hub_running, &running);
      continue;
    }
    if (HasGreenlet(e.kind)) lanes.Add(e.greenlet);
    win.push_back(std::move(e));
  }
  to = from + win.size();  // (the same, unless the file changed meanwhile)
  auto ev = [&](size_t i) -> const Event& { return win[i - from]; };

  // Names, and lifetimes: a thin line from spawn (or the window start) to
  // finish. Raw greenlets (a link runs in one) have no finish record: their
  // line ends at the first event only the hub emits after they were last
  // seen, if the trace goes on without them.
  std::unordered_map<uint64_t, size_t> born, died, stopped;
  std::vector<uint64_t> awaiting;  // seen; the next hub-side event stops them
  if (!r.Rewind()) return Finish(r, err);
  for (size_t i = 0; r.Next(&e); ++i) {
    if (IsHubSide(e.kind)) {
      for (uint64_t id : awaiting) stopped[id] = i;
      awaiting.clear();
    }
    if (!HasGreenlet(e.kind) || lanes.RowOf(e.greenlet) <= 0) continue;
    if (e.kind == HubEventKind::kSpawn || (e.kind == HubEventKind::kFinish && !e.name.empty())) {
      lanes.names[e.greenlet] = e.name;
    }
    if (e.kind == HubEventKind::kSpawn && born.count(e.greenlet) == 0) born[e.greenlet] = i;
    if (e.kind == HubEventKind::kFinish && died.count(e.greenlet) == 0) died[e.greenlet] = i;
    stopped.erase(e.greenlet);
    if (std::find(awaiting.begin(), awaiting.end(), e.greenlet) == awaiting.end()) {
      awaiting.push_back(e.greenlet);
    }
  }
  for (const auto& [id, at] : stopped) {
    if (id != 0 && died.count(id) == 0) died[id] = at;
  }
  // Columns: minor events are narrow.
  const double kLeft = 170, kTop = 78, kRow = 30, kMajor = 16, kMinorW = 7;
  std::vector<double> x(to - from + 1);
  double cx = kLeft + 10;
  for (size_t i = from; i < to; ++i) {
    const double w = Minor(ev(i).kind) ? kMinorW : kMajor;
    x[i - from] = cx + w / 2;
    cx += w;
  }
  x[to - from] = cx;
  auto X = [&](size_t i) { return x[i - from]; };
  const size_t rows = lanes.order.size() + 1;
  const double width = std::max(cx + 40, 1150.0);  // the legend fits
  const double lanes_bottom = kTop + static_cast<double>(rows) * kRow;
  // Markers that only some traces have get a second legend row.
  bool has_net = false, has_decision = false, has_io = false;
  for (size_t i = from; i < to; ++i) {
    has_net |= ev(i).kind == kNetCall;
    has_decision |= ev(i).kind == HubEventKind::kDecision;
    has_io |= ev(i).kind == HubEventKind::kIo;
  }
  const bool second_row = has_net || has_decision || has_io;
  const double height = lanes_bottom + 56 + (marked.empty() ? 0 : 24) + (second_row ? 20 : 0);
  auto Y = [&](int row) { return kTop + row * kRow + kRow / 2; };

  std::string o;
  o.reserve((to - from) * 300 + 4096);
  absl::StrAppend(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", Num(width),
                  "\" height=\"", Num(height), "\" viewBox=\"0 0 ", Num(width), " ",
                  Num(height), "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">\n");
  o += "<defs>";
  for (const char* c : {"#e08a00", "#888888", "#d03030", "#2e8b57", "#1f8fa0"}) {
    absl::StrAppend(&o, "<marker id=\"ah", c + 1, "\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                        "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"",
                    c, "\"/></marker>");
  }
  o += "</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";

  // Title.
  const proto::Header& h = r.header();
  std::string title = absl::StrCat(Clip(h.program(), 60), " - ", h.backend());
  if (h.backend() == "sim") absl::StrAppend(&title, ", seed ", h.seed());
  absl::StrAppend(&title, " - records ", from, "..", to == 0 ? 0 : to - 1, " of ", n);
  if (to > from) {
    absl::StrAppend(&title, ", trace time ", FormatTime(ev(from).time_ns), " to ",
                    FormatTime(ev(to - 1).time_ns));
  }
  absl::StrAppend(&o, "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">",
                  Xml(title), "</text>\n");
  std::string note = EndNote(r);
  if (failure != SIZE_MAX) {
    const Event& f = failed;
    absl::StrAppend(&o, "<text x=\"10\" y=\"38\" font-size=\"12\" fill=\"#c00000\" font-weight=\"bold\">",
                    Xml(absl::StrCat("FAILURE at record ", failure, " (", FormatTime(f.time_ns), "): ",
                                     Clip(Describe(f), 160))),
                    "</text>\n");
  }
  if (!note.empty() || lanes.dropped > 0) {
    std::string s = note;
    if (lanes.dropped > 0) {
      absl::StrAppend(&s, s.empty() ? "" : "; ", lanes.dropped,
                      " more greenlets not drawn");
    }
    absl::StrAppend(&o, "<text x=\"10\" y=\"54\" font-size=\"11\" fill=\"#a05000\">",
                    Xml(Clip(s, 200)), "</text>\n");
  }

  // Lane backgrounds and labels.
  for (size_t row = 0; row < rows; ++row) {
    const double y0 = kTop + static_cast<double>(row) * kRow;
    absl::StrAppend(&o, "<rect x=\"0\" y=\"", Num(y0), "\" width=\"", Num(width),
                    "\" height=\"", Num(kRow), "\" fill=\"", row % 2 ? "#f6f6f6" : "#ffffff",
                    "\"/>\n");
    const std::string label = row == 0 ? "hub" : LaneLabel(lanes.order[row - 1], lanes.names);
    absl::StrAppend(&o, "<text x=\"8\" y=\"", Num(y0 + kRow / 2 + 4), "\"",
                    row == 0 ? " font-style=\"italic\"" : "", ">", Xml(label), "</text>\n");
  }
  absl::StrAppend(&o, "<line x1=\"", Num(kLeft), "\" y1=\"", Num(kTop), "\" x2=\"", Num(kLeft),
                  "\" y2=\"", Num(lanes_bottom), "\" stroke=\"#cccccc\"/>\n");

  // Time: a dashed line where the clock moved, labelled with the time.
  double last_label = -1e9;
  absl::StrAppend(&o, "<text x=\"", Num(kLeft + 4), "\" y=\"", Num(kTop - 8),
                  "\" fill=\"#555555\">", to > from ? Xml(ShortTime(ev(from).time_ns)) : "", "</text>\n");
  last_label = kLeft + 4;
  for (size_t i = from; i < to; ++i) {
    if (ev(i).kind != HubEventKind::kTimeAdvanced) continue;
    const double xi = X(i);
    absl::StrAppend(&o, "<line x1=\"", Num(xi), "\" y1=\"", Num(kTop - 4), "\" x2=\"", Num(xi),
                    "\" y2=\"", Num(lanes_bottom), "\" stroke=\"#9aa5b5\" stroke-dasharray=\"3,3\"/>\n");
    if (xi - last_label > 62) {
      absl::StrAppend(&o, "<text x=\"", Num(xi + 2), "\" y=\"", Num(kTop - 8),
                      "\" fill=\"#555555\">", Xml(ShortTime(ev(i).time_ns)), "</text>\n");
      last_label = xi;
    }
  }
  absl::StrAppend(&o, "<text x=\"", Num(kLeft), "\" y=\"", Num(kTop - 24),
                  "\" fill=\"#777777\" font-size=\"10\">trace time (dashed lines: the clock moved); "
                  "x axis: one step per record</text>\n");

  // Lifetimes.
  for (uint64_t id : lanes.order) {
    const int row = lanes.RowOf(id);
    double x0 = kLeft + 4, x1 = x[to - from];
    auto b = born.find(id);
    if (b != born.end() && b->second >= from) {
      if (b->second >= to) continue;  // (a corrupt trace spawns it again)
      x0 = X(b->second);
    }
    auto d = died.find(id);
    if (d != died.end() && d->second < to) {
      if (d->second < from) continue;
      x1 = X(d->second);
    }
    absl::StrAppend(&o, "<line x1=\"", Num(x0), "\" y1=\"", Num(Y(row)), "\" x2=\"", Num(x1),
                    "\" y2=\"", Num(Y(row)), "\" stroke=\"#b8b8b8\" stroke-width=\"1.5\"/>\n");
  }

  // Running spans.
  std::vector<Span> spans;
  std::vector<Wake> wakes;
  {
    Runs runs(from, 0, hub_running, running);
    for (size_t i = from; i < to; ++i) {
      runs.Add(i, 0, ev(i), [&](const Span& s) { spans.push_back(s); },
               [&](const Wake& w) { wakes.push_back(w); });
    }
    runs.End(to, 0, [&](const Span& s) { spans.push_back(s); });
  }
  for (const Span& s : spans) {
    const int row = s.hub ? 0 : lanes.RowOf(s.greenlet);
    if (row < 0) continue;
    const double x0 = s.from == from && s.from != 0 ? kLeft + 4 : X(s.from);
    const double x1 = s.to >= to ? x[to - from] : X(s.to);
    const char* color =
        s.hub ? "#c9c9c9" : kLaneColors[static_cast<size_t>(row) % (sizeof kLaneColors / sizeof *kLaneColors)];
    absl::StrAppend(&o, "<rect x=\"", Num(x0), "\" y=\"", Num(Y(row) - (s.hub ? 5 : 8)),
                    "\" width=\"", Num(std::max(x1 - x0, 2.0)), "\" height=\"", s.hub ? "10" : "16",
                    "\" rx=\"2\" fill=\"", color, "\"><title>",
                    Xml(absl::StrCat(s.hub ? "hub" : GreenletName(s.greenlet), " runs, records ",
                                     s.from, "..", s.to)),
                    "</title></rect>\n");
  }

  // Wake-up arrows: from the hub event that caused it to the switch.
  for (const Wake& w : wakes) {
    const int row = lanes.RowOf(ev(w.target).greenlet);
    if (row <= 0) continue;
    const char* c = "#888888";
    switch (ev(w.cause).kind) {
      case HubEventKind::kTimerFired: c = "#e08a00"; break;
      case HubEventKind::kKill:
      case HubEventKind::kTimeoutFired: c = "#d03030"; break;
      case HubEventKind::kLinkNotified: c = "#2e8b57"; break;
      case HubEventKind::kIo: c = "#1f8fa0"; break;
      default: break;
    }
    const double x0 = X(w.cause), y0 = Y(0) + 5, x1 = X(w.target), y1 = Y(row) - 9;
    absl::StrAppend(&o, "<path d=\"M", Num(x0), ",", Num(y0), " C", Num(x0), ",", Num((y0 + y1) / 2), " ",
                    Num(x1), ",", Num((y0 + y1) / 2 - 6), " ", Num(x1), ",", Num(y1),
                    "\" fill=\"none\" stroke=\"", c, "\" stroke-width=\"1.3\" marker-end=\"url(#ah", c + 1,
                    ")\"><title>",
                    Xml(absl::StrCat(w.cause == w.target ? "a callback" : Describe(ev(w.cause)),
                                     " wakes ", GreenletName(ev(w.target).greenlet))),
                    "</title></path>\n");
  }

  // A failure: a red line across the lanes, a cross on its lane, and what
  // failed (to the cross's left if it would not fit on its right).
  auto draw_failure = [&](double xi, double y, const std::string& tip, const std::string& label) {
    const bool left = xi + 9 + 6.5 * static_cast<double>(label.size()) > width;
    absl::StrAppend(&o, "<line x1=\"", Num(xi), "\" y1=\"", Num(kTop), "\" x2=\"", Num(xi), "\" y2=\"",
                    Num(lanes_bottom), "\" stroke=\"#d03030\" stroke-width=\"1.5\" opacity=\"0.6\"/>\n",
                    "<path d=\"M", Num(xi - 6), ",", Num(y - 6), " l12,12 M", Num(xi + 6), ",", Num(y - 6),
                    " l-12,12\" stroke=\"#d03030\" stroke-width=\"3\"><title>", tip, "</title></path>\n",
                    "<text x=\"", Num(left ? xi - 9 : xi + 9), "\" y=\"", Num(y + 15), "\"",
                    left ? " text-anchor=\"end\"" : "",
                    " font-size=\"11\" font-weight=\"bold\" fill=\"#c00000\"", kHalo, ">", Xml(label),
                    "</text>\n");
  };

  // Markers.
  for (size_t i = from; i < to; ++i) {
    const Event& e = ev(i);
    const double xi = X(i);
    const std::string tip = Xml(FormatLine(e));
    if (e.kind == kNetCall) {
      // A socket call: up for bytes in, down for bytes out, grey else.
      const auto op = static_cast<NetOp>(e.a);
      const bool in = op == NetOp::kRecv || op == NetOp::kRecvFrom || op == NetOp::kAccept;
      const bool sent = op == NetOp::kSend || op == NetOp::kSendTo || op == NetOp::kConnect;
      const char* fill = e.b < 0 && e.b != -EAGAIN ? "#d03030" : in ? "#2a7ab0" : sent ? "#3a9a3a" : "#888888";
      absl::StrAppend(&o, "<path d=\"M", Num(xi - 3), ",", Num(Y(0) + (sent ? -6 : 6)), " l3,",
                      sent ? "12" : "-12", " l3,", sent ? "-12" : "12", " z\" fill=\"", fill,
                      "\"><title>", tip, "</title></path>\n");
      continue;
    }
    switch (e.kind) {
      case HubEventKind::kTimerFired:
        absl::StrAppend(&o, "<path d=\"M", Num(xi), ",", Num(Y(0) - 7), " l5,7 l-5,7 l-5,-7 z\" fill=\"#e08a00\" "
                        "stroke=\"#8a5500\" stroke-width=\"0.7\"><title>", tip, "</title></path>\n");
        break;
      case HubEventKind::kCallback:
        absl::StrAppend(&o, "<circle cx=\"", Num(xi), "\" cy=\"", Num(Y(0)), "\" r=\"1.8\" fill=\"#666666\"><title>",
                        tip, "</title></circle>\n");
        break;
      case HubEventKind::kDecision:
        absl::StrAppend(&o, "<rect x=\"", Num(xi - 3), "\" y=\"", Num(Y(0) - 3),
                        "\" width=\"6\" height=\"6\" fill=\"#8a3ab8\"><title>", tip, "</title></rect>\n");
        break;
      case HubEventKind::kIo:
        absl::StrAppend(&o, "<circle cx=\"", Num(xi), "\" cy=\"", Num(Y(0)), "\" r=\"3.5\" fill=\"#1f8fa0\"><title>",
                        tip, "</title></circle>\n");
        break;
      case HubEventKind::kLoopExit:
        absl::StrAppend(&o, "<rect x=\"", Num(xi - 2), "\" y=\"", Num(Y(0) - 8),
                        "\" width=\"4\" height=\"16\" fill=\"#333333\"><title>", tip, "</title></rect>\n");
        break;
      case HubEventKind::kSpawn: {
        const int row = lanes.RowOf(e.greenlet);
        if (row <= 0) break;
        const int parent = lanes.RowOf(static_cast<uint64_t>(e.a));
        if (parent >= 0 && parent != row) {
          absl::StrAppend(&o, "<line x1=\"", Num(xi), "\" y1=\"", Num(Y(parent)), "\" x2=\"", Num(xi),
                          "\" y2=\"", Num(Y(row)), "\" stroke=\"#999999\" stroke-dasharray=\"2,2\"/>\n");
        }
        absl::StrAppend(&o, "<circle cx=\"", Num(xi), "\" cy=\"", Num(Y(row)),
                        "\" r=\"4\" fill=\"white\" stroke=\"#555555\" stroke-width=\"1.5\"><title>", tip,
                        "</title></circle>\n");
        break;
      }
      case HubEventKind::kSleep: {
        const int row = lanes.RowOf(e.greenlet);
        if (row < 0) break;
        absl::StrAppend(&o, "<text x=\"", Num(xi - 3), "\" y=\"", Num(Y(row) - 10),
                        "\" font-size=\"9\" fill=\"#555555\">z<title>", tip, "</title></text>\n");
        break;
      }
      case HubEventKind::kTimerStarted: {
        const int row = lanes.RowOf(e.greenlet);
        if (row < 0) break;
        absl::StrAppend(&o, "<line x1=\"", Num(xi), "\" y1=\"", Num(Y(row) + 9), "\" x2=\"", Num(xi),
                        "\" y2=\"", Num(Y(row) + 13), "\" stroke=\"#e08a00\" stroke-width=\"2\"><title>", tip,
                        "</title></line>\n");
        break;
      }
      case HubEventKind::kNote: {
        const int row = lanes.RowOf(e.greenlet);
        if (row < 0) break;
        if (IsFailure(e)) {
          draw_failure(xi, Y(row), tip, Clip(e.text, 90));
          break;
        }
        absl::StrAppend(&o, "<path d=\"M", Num(xi), ",", Num(Y(row) + 10), " v-22 l8,4 l-8,4\" fill=\"#f2c200\" "
                        "stroke=\"#7a6200\"><title>", tip, "</title></path>\n",
                        "<text x=\"", Num(xi + 10), "\" y=\"", Num(Y(row) - 10), "\" font-size=\"10\" fill=\"#7a6200\"",
                        kHalo, ">", Xml(Clip(e.text, 40)), "</text>\n");
        break;
      }
      case HubEventKind::kFinish: {
        const int row = lanes.RowOf(e.greenlet);
        if (row < 0) break;
        const double y = Y(row);
        if (e.a == 1) {
          draw_failure(xi, y, tip, Clip(absl::StrCat(e.text, e.text2.empty() ? "" : ": ", e.text2), 70));
        } else {
          absl::StrAppend(&o, "<rect x=\"", Num(xi - 2), "\" y=\"", Num(y - 7), "\" width=\"4\" height=\"14\" fill=\"",
                          e.a == 2 ? "#555555" : "#2e8b57", "\"><title>", tip, "</title></rect>\n");
        }
        break;
      }
      case HubEventKind::kKill:
      case HubEventKind::kTimeoutFired: {
        absl::StrAppend(&o, "<path d=\"M", Num(xi - 4), ",", Num(Y(0) - 4), " l8,8 M", Num(xi + 4), ",",
                        Num(Y(0) - 4), " l-8,8\" stroke=\"#d03030\" stroke-width=\"2\"><title>", tip,
                        "</title></path>\n");
        break;
      }
      default:
        break;
    }
  }

  // Decisive decisions: a purple band across the lanes, labelled above.
  int mark_row = 0;
  for (const auto& [i, label] : marked) {
    if (i < from || i >= to) continue;
    const double xi = X(i);
    absl::StrAppend(&o, "<rect x=\"", Num(xi - 3), "\" y=\"", Num(kTop), "\" width=\"6\" height=\"",
                    Num(lanes_bottom - kTop), "\" fill=\"#8a3ab8\" opacity=\"0.35\"><title>",
                    Xml(label), "</title></rect>\n", "<text x=\"", Num(xi + 5), "\" y=\"",
                    Num(lanes_bottom + 12 + 12 * (mark_row++ % 2)),
                    "\" font-size=\"11\" font-weight=\"bold\" fill=\"#6a1a98\"", kHalo, ">",
                    Xml(absl::StrCat("decisive: ", Clip(label, 110))), "</text>\n");
  }

  // Legend.
  const double ly = lanes_bottom + 26 + (marked.empty() ? 0 : 24);
  struct Item {
    const char* svg;
    const char* text;
  };
  const Item items[] = {
      {"<rect x=\"0\" y=\"-6\" width=\"18\" height=\"12\" rx=\"2\" fill=\"#4878b8\"/>", "running"},
      {"<rect x=\"0\" y=\"-4\" width=\"18\" height=\"8\" rx=\"2\" fill=\"#c9c9c9\"/>", "hub working"},
      {"<line x1=\"0\" y1=\"0\" x2=\"18\" y2=\"0\" stroke=\"#b8b8b8\" stroke-width=\"1.5\"/>", "alive, waiting"},
      {"<path d=\"M9,-7 l5,7 l-5,7 l-5,-7 z\" fill=\"#e08a00\"/>", "timer fired"},
      {"<path d=\"M0,-6 C0,0 18,0 18,6\" fill=\"none\" stroke=\"#e08a00\" stroke-width=\"1.3\"/>", "wake-up (timer)"},
      {"<path d=\"M0,-6 C0,0 18,0 18,6\" fill=\"none\" stroke=\"#888888\" stroke-width=\"1.3\"/>", "wake-up (callback)"},
      {"<circle cx=\"9\" cy=\"0\" r=\"4\" fill=\"white\" stroke=\"#555555\" stroke-width=\"1.5\"/>", "spawn"},
      {"<text x=\"6\" y=\"-2\" font-size=\"9\" fill=\"#555555\">z</text>", "sleep"},
      {"<rect x=\"7\" y=\"-7\" width=\"4\" height=\"14\" fill=\"#2e8b57\"/>", "finished"},
      {"<path d=\"M3,-6 l12,12 M15,-6 l-12,12\" stroke=\"#d03030\" stroke-width=\"3\"/>", "failed"},
  };
  std::vector<Item> more;
  if (has_net) {
    more.push_back({"<path d=\"M6,6 l3,-12 l3,12 z\" fill=\"#2a7ab0\"/>", "socket: accept, recv (in)"});
    more.push_back({"<path d=\"M6,-6 l3,12 l3,-12 z\" fill=\"#3a9a3a\"/>", "socket: connect, send (out)"});
    more.push_back({"<path d=\"M6,6 l3,-12 l3,12 z\" fill=\"#888888\"/>", "other socket call"});
    more.push_back({"<path d=\"M6,6 l3,-12 l3,12 z\" fill=\"#d03030\"/>", "socket error"});
  }
  if (has_decision) {
    more.push_back({"<rect x=\"6\" y=\"-3\" width=\"6\" height=\"6\" fill=\"#8a3ab8\"/>", "decision"});
  }
  if (has_io) {
    more.push_back({"<circle cx=\"9\" cy=\"0\" r=\"3.5\" fill=\"#1f8fa0\"/>", "I/O ready"});
  }
  auto draw_row = [&](const Item* begin, const Item* end, double y) {
    double lx = 10;
    for (const Item* it = begin; it != end; ++it) {
      absl::StrAppend(&o, "<g transform=\"translate(", Num(lx), ",", Num(y), ")\">", it->svg,
                      "<text x=\"24\" y=\"4\">", it->text, "</text></g>\n");
      lx += 24 + 7.0 * static_cast<double>(strlen(it->text)) + 18;
    }
  };
  draw_row(std::begin(items), std::end(items), ly);
  draw_row(more.data(), more.data() + more.size(), ly + 20);
  o += "</svg>\n";
  *svg = std::move(o);
  return Finish(r, err);
}

// ---------------------------------------------------------------- CLI

namespace {

const char kUsage[] =
    "usage: gtrace dump TRACE\n"
    "       gtrace stats TRACE\n"
    "       gtrace diff A B\n"
    "       gtrace export --chrome OUT.json TRACE\n"
    "       gtrace timeline OUT.svg TRACE [--from N] [--count N]\n";

std::string Resolve(const std::string& path, const std::string& cwd) {
  if (cwd.empty() || path.empty() || path[0] == '/') return path;
  return cwd + "/" + path;
}

bool Open(TraceReader& r, const std::string& path, const std::string& cwd,
          std::ostream& err) {
  if (!r.Open(Resolve(path, cwd))) {
    err << "gtrace: " << Printable(r.error()) << "\n";
    return false;
  }
  return true;
}

// An output path that names the input trace (the same file, by any name)
// would overwrite it: refused.
bool OutputIsNotInput(const std::string& out, const std::string& in,
                      std::ostream& err) {
  if (!internal::SameFile(out, in)) return true;
  err << "gtrace: the output '" << Printable(out) << "' is the input trace '"
      << Printable(in) << "': not overwriting it\n";
  return false;
}

bool WriteFile(const std::string& path, const std::string& data, std::ostream& err) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (f) f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (f) f.close();
  if (!f) {
    err << "gtrace: cannot write '" << Printable(path) << "'\n";
    return false;
  }
  return true;
}

}  // namespace

int RunTool(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err, const std::string& cwd) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  if ((cmd == "dump" || cmd == "stats") && args.size() == 2) {
    TraceReader r;
    if (!Open(r, args[1], cwd, err)) return 2;
    return cmd == "dump" ? Dump(r, out, err) : Stats(r, out, err);
  }
  if (cmd == "diff" && args.size() == 3) {
    TraceReader a, b;
    if (!Open(a, args[1], cwd, err) || !Open(b, args[2], cwd, err)) return 2;
    return Diff(a, b, out, err);
  }
  if (cmd == "export" && args.size() == 4 && args[1] == "--chrome") {
    TraceReader r;
    if (!OutputIsNotInput(Resolve(args[2], cwd), Resolve(args[3], cwd), err) ||
        !Open(r, args[3], cwd, err)) {
      return 2;
    }
    // Written as it is read: the document can be far larger than memory.
    const std::string path = Resolve(args[2], cwd);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    const int rc = f ? ChromeJson(r, f, err) : 2;
    const std::streamoff size = f ? static_cast<std::streamoff>(f.tellp()) : 0;
    if (f) f.close();
    if (!f) {
      err << "gtrace: cannot write '" << Printable(path) << "'\n";
      return 2;
    }
    out << "wrote " << args[2] << " (" << size << " bytes; open it in https://ui.perfetto.dev)\n";
    return rc;
  }
  if (cmd == "timeline" && args.size() >= 3 && args.size() % 2 == 1) {
    TimelineOptions options;
    for (size_t i = 3; i + 1 < args.size(); i += 2) {
      int64_t v;
      if (!absl::SimpleAtoi(args[i + 1], &v) || v < 0) {
        err << "gtrace: " << args[i] << " needs a non-negative number\n";
        return 2;
      }
      if (args[i] == "--from") {
        options.from = v;
      } else if (args[i] == "--count") {
        options.count = v;
      } else {
        err << "gtrace: unknown option " << Printable(args[i]) << "\n" << kUsage;
        return 2;
      }
    }
    TraceReader r;
    if (!OutputIsNotInput(Resolve(args[1], cwd), Resolve(args[2], cwd), err) ||
        !Open(r, args[2], cwd, err)) {
      return 2;
    }
    std::string svg;
    const int rc = TimelineSvg(r, options, &svg, err);
    if (!WriteFile(Resolve(args[1], cwd), svg, err)) return 2;
    out << "wrote " << args[1] << " (" << svg.size() << " bytes)\n";
    return rc;
  }
  err << "gtrace: bad command line\n" << kUsage;
  return 2;
}

}  // namespace trace
}  // namespace gevent
