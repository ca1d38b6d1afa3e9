#include "traces/event.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/greenlet.h"
#include "runtime/exception_text.h"
#include "runtime/network_observer.h"
#include "runtime/raw_greenlet.h"
#include "runtime/address.h"

namespace gevent {
namespace trace {

namespace {
// Keeps one record well under the reader's limit.
constexpr size_t kMaxText = 16 * 1024;

std::string Clip(std::string s) {
  if (s.size() > kMaxText) {
    s.resize(kMaxText);
    s += "...";
  }
  return s;
}
}  // namespace

namespace {
// Length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Length(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
    return 0;
  }
  return n;
}
}  // namespace

std::string Printable(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = Utf8Length(s, i);
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f || n == 0) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

std::string ValidUtf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = Utf8Length(s, i);
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    out += (n == 0 || c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    ++i;
  }
  return out;
}

std::string DefaultName(uint64_t id) { return absl::StrCat("Greenlet-", id); }

bool IsDefaultName(const std::string& name, uint64_t id) {
  // "Greenlet-" then the decimal id, without leading zeros.
  constexpr size_t kPrefix = 9;
  if (name.size() <= kPrefix || name.size() > kPrefix + 20 ||
      name.compare(0, kPrefix, "Greenlet-") != 0 ||
      (name[kPrefix] == '0' && name.size() > kPrefix + 1)) {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = kPrefix; i < name.size(); ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;  // overflow
    v = next;
  }
  return v == id;
}

Event EventFromHub(const HubEvent& e, absl::Time start, bool in_hub) {
  Event out;
  out.kind = e.kind;
  out.time_ns = absl::ToInt64Nanoseconds(e.time() - start);
  out.greenlet = HasGreenlet(e.kind) ? e.greenlet : 0;
  switch (e.kind) {
    case HubEventKind::kSpawn:
      out.a = in_hub ? -1 : e.a;
      out.name = e.who != nullptr ? Clip(e.who->name()) : DefaultName(e.greenlet);
      break;
    case HubEventKind::kFinish:
      out.a = e.a;
      if (e.who != nullptr && !IsDefaultName(e.who->name(), e.greenlet)) {
        out.name = Clip(e.who->name());
      }
      if (e.a == 1) {
        const auto* g = dynamic_cast<const GreenletBase*>(e.who);
        if (g != nullptr && g->exception() != nullptr) {
          out.text = Clip(exception_type_name(g->exception()));
          out.text2 = Clip(exception_message(g->exception()));
        }
      }
      break;
    case HubEventKind::kTimerFired:
    case HubEventKind::kTimeAdvanced:
    case HubEventKind::kForeignWork:
      out.a = e.a;
      break;
    case HubEventKind::kTimerStarted:
      if (in_hub) out.greenlet = kHubGreenlet;
      out.a = e.a;
      out.b = e.b;
      break;
    case HubEventKind::kIo:
    case HubEventKind::kSleep:
      out.a = e.a;
      out.b = e.b;
      break;
    case HubEventKind::kDecision:
      out.a = e.a;
      out.b = e.b;
      out.c = e.c;
      break;
    case HubEventKind::kNote:
      if (in_hub) out.greenlet = kHubGreenlet;
      out.text = Clip(e.text != nullptr ? e.text : "");
      break;
    default:
      break;
  }
  return out;
}

bool HasGreenlet(HubEventKind kind) {
  switch (kind) {
    case HubEventKind::kSpawn:
    case HubEventKind::kSwitch:
    case HubEventKind::kFinish:
    case HubEventKind::kSleep:
    case HubEventKind::kTimeoutFired:
    case HubEventKind::kKill:
    case HubEventKind::kNote:
    case HubEventKind::kTimerStarted:
      return true;
    default:
      return false;
  }
}

bool IsHubSide(HubEventKind kind) {
  switch (kind) {
    case HubEventKind::kSwitch:
    case HubEventKind::kTimerFired:
    case HubEventKind::kCallback:
    case HubEventKind::kIo:
    case HubEventKind::kIdle:
    case HubEventKind::kTimeAdvanced:
    case HubEventKind::kLoopExit:
    case HubEventKind::kTimeoutFired:
    case HubEventKind::kKill:
    case HubEventKind::kLinkNotified:
    case HubEventKind::kForeignWork:
      return true;
    default:
      return false;
  }
}

const char* KindName(HubEventKind kind) {
  if (kind == kNetCall) return "net";
  switch (kind) {
    case HubEventKind::kSpawn: return "spawn";
    case HubEventKind::kSwitch: return "switch";
    case HubEventKind::kFinish: return "finish";
    case HubEventKind::kTimerFired: return "timer-fired";
    case HubEventKind::kCallback: return "callback";
    case HubEventKind::kIo: return "io";
    case HubEventKind::kIdle: return "idle";
    case HubEventKind::kTimeAdvanced: return "time-advanced";
    case HubEventKind::kDecision: return "decision";
    case HubEventKind::kLoopExit: return "loop-exit";
    case HubEventKind::kSleep: return "sleep";
    case HubEventKind::kTimeoutFired: return "timeout-fired";
    case HubEventKind::kKill: return "kill";
    case HubEventKind::kLinkNotified: return "link-notified";
    case HubEventKind::kNote: return "note";
    case HubEventKind::kTimerStarted: return "timer-started";
    case HubEventKind::kForeignWork: return "foreign-work";
  }
  return "unknown";
}

std::string FormatTime(int64_t ns) {
  const bool neg = ns < 0;
  // Unsigned arithmetic: INT64_MIN has no positive counterpart.
  uint64_t u = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  char buf[48];
  snprintf(buf, sizeof buf, "%c%" PRIu64 ".%09" PRIu64 "s", neg ? '-' : '+',
           u / 1000000000u, u % 1000000000u);
  return buf;
}

std::string FormatDuration(int64_t ns) {
  if (ns == 0) return "0";
  const bool neg = ns < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  struct Unit {
    uint64_t size;
    const char* name;
  };
  static const Unit kUnits[] = {{3600000000000ull, "h"}, {60000000000ull, "min"},
                                {1000000000ull, "s"},    {1000000ull, "ms"},
                                {1000ull, "us"},         {1ull, "ns"}};
  for (const Unit& unit : kUnits) {
    if (u >= unit.size || unit.size == 1) {
      char buf[48];
      if (u % unit.size == 0) {
        snprintf(buf, sizeof buf, "%s%" PRIu64 "%s", neg ? "-" : "",
                 u / unit.size, unit.name);
      } else {
        snprintf(buf, sizeof buf, "%s%.6g%s", neg ? "-" : "",
                 static_cast<double>(u) / static_cast<double>(unit.size),
                 unit.name);
      }
      return buf;
    }
  }
  return "?";
}

std::string GreenletName(uint64_t id) {
  if (id == kHubGreenlet) return "hub";
  return id == 0 ? "main" : absl::StrCat("g", id);
}

namespace {
const char* DecisionKindName(int64_t c) {
  if (c >= 0 && c < kDecisionKinds) return DecisionName(static_cast<Decision>(c));
  return "unknown-decision";
}
}  // namespace

std::string ErrnoName(int64_t err) {
  const char* name = err > 0 && err < 4096 ? strerrorname_np(static_cast<int>(err)) : nullptr;
  return name != nullptr ? std::string(name) : absl::StrCat("errno ", err);
}

std::string AddressText(const std::string& bytes) {
  if (bytes.empty() || bytes.size() > sizeof(sockaddr_storage)) return "?";
  sockaddr_storage ss{};
  memcpy(&ss, bytes.data(), bytes.size());
  try {
    return Address::FromSockaddr(reinterpret_cast<const sockaddr*>(&ss),
                                 static_cast<socklen_t>(bytes.size()))
        .ToString();
  } catch (const std::exception&) {
    return "?";
  }
}

std::string DescribeNetCall(const Event& e) {
  const auto op = static_cast<NetOp>(e.a);
  const char* name = e.a >= 0 && e.a <= static_cast<int64_t>(NetOp::kLastOp)
                         ? NetOpName(op)
                         : "unknown-call";
  if (op == NetOp::kResolve) {
    std::string s = absl::StrCat("resolve ", Printable(e.payload), " port ", e.c);
    if (e.b < 0) {
      absl::StrAppend(&s, " -> ", ErrnoName(-e.b));
      if (!e.text.empty()) absl::StrAppend(&s, " (", Printable(e.text), ")");
      return s;
    }
    absl::StrAppend(&s, " -> ", e.b, e.b == 1 ? " address" : " addresses");
    for (size_t i = 0; i < e.resolved.size() && i < 4; ++i) {
      absl::StrAppend(&s, i == 0 ? " " : ", ", AddressText(e.resolved[i]));
    }
    if (e.resolved.size() > 4) absl::StrAppend(&s, ", ...");
    return s;
  }
  std::string s = op == NetOp::kOpen ? std::string("open")
                                     : absl::StrCat("fd ", e.fd, " ", name);
  switch (op) {
    case NetOp::kOpen:
      absl::StrAppend(&s, e.c == AF_INET ? " AF_INET" : e.c == AF_INET6 ? " AF_INET6"
                          : e.c == AF_UNIX ? " AF_UNIX" : " family?",
                      e.arg2 == 1 ? " datagram" : " stream");
      break;
    case NetOp::kRecv:
    case NetOp::kPeek:
    case NetOp::kRecvFrom:
    case NetOp::kSend:
    case NetOp::kSendTo:
      absl::StrAppend(&s, " ", e.c);
      break;
    case NetOp::kListen:
    case NetOp::kShutdown:
      absl::StrAppend(&s, " ", e.c);
      break;
    case NetOp::kSetOption:
      absl::StrAppend(&s, " option ", e.c, " = ", e.arg2);
      break;
    case NetOp::kGetOption:
      absl::StrAppend(&s, " option ", e.c);
      break;
    default:
      break;
  }
  if ((op == NetOp::kBind || op == NetOp::kConnect || op == NetOp::kSendTo) &&
      !e.address.empty()) {
    absl::StrAppend(&s, " ", AddressText(e.address));
  }
  if (e.b < 0) {
    absl::StrAppend(&s, " -> ", ErrnoName(-e.b));
    return s;
  }
  switch (op) {
    case NetOp::kOpen:
      absl::StrAppend(&s, " -> fd ", e.b);
      break;
    case NetOp::kAccept:
      absl::StrAppend(&s, " -> fd ", e.new_fd, " from ", AddressText(e.address));
      break;
    case NetOp::kLocalAddress:
    case NetOp::kPeerAddress:
      absl::StrAppend(&s, " -> ", AddressText(e.address));
      break;
    case NetOp::kGetOption:
      absl::StrAppend(&s, " -> ", e.arg2);
      break;
    case NetOp::kRecv:
    case NetOp::kPeek:
    case NetOp::kRecvFrom: {
      absl::StrAppend(&s, " -> ", e.b, " bytes");
      if (op == NetOp::kRecvFrom) absl::StrAppend(&s, " from ", AddressText(e.address));
      if (static_cast<int64_t>(e.payload.size()) < e.b) {
        absl::StrAppend(&s, " (", e.payload.size(), " kept)");
      }
      if (!e.payload.empty()) {
        constexpr size_t kShown = 24;
        absl::StrAppend(&s, " \"", Printable(e.payload.substr(0, kShown)),
                        e.payload.size() > kShown ? "\"..." : "\"");
      }
      break;
    }
    case NetOp::kSend:
    case NetOp::kSendTo:
      absl::StrAppend(&s, " -> ", e.b, " bytes");
      break;
    default:
      absl::StrAppend(&s, " -> ", e.b);
      break;
  }
  return s;
}

std::string Describe(const Event& e) {
  if (e.kind == kNetCall) return DescribeNetCall(e);
  const std::string g = GreenletName(e.greenlet);
  switch (e.kind) {
    case HubEventKind::kSpawn: {
      std::string s = absl::StrCat("spawn ", g, " by ",
                                   GreenletName(static_cast<uint64_t>(e.a)));
      if (!IsDefaultName(e.name, e.greenlet)) absl::StrAppend(&s, " \"", Printable(e.name), "\"");
      return s;
    }
    case HubEventKind::kSwitch:
      return absl::StrCat("switch to ", g);
    case HubEventKind::kFinish:
      if (e.a == 0) return absl::StrCat(g, " finished (value)");
      if (e.a == 2) return absl::StrCat(g, " finished (killed)");
      if (e.a == 1) {
        std::string s = absl::StrCat(g, " finished with error ",
                                     e.text.empty() ? "(unknown)" : Printable(e.text));
        if (!e.text2.empty()) absl::StrAppend(&s, ": ", Printable(e.text2));
        return s;
      }
      return absl::StrCat(g, " finished (outcome ", e.a, ")");
    case HubEventKind::kTimerFired:
      return absl::StrCat("timer #", e.a, " fired");
    case HubEventKind::kCallback:
      return "callback";
    case HubEventKind::kIo:
      return absl::StrCat("io fd ", e.a, (e.b & 1) ? " read" : "",
                          (e.b & 2) ? " write" : "");
    case HubEventKind::kIdle:
      return "idle";
    case HubEventKind::kTimeAdvanced:
      return absl::StrCat("time advanced by ", FormatDuration(e.a));
    case HubEventKind::kDecision:
      return absl::StrCat("decision ", DecisionKindName(e.c), ": option ", e.b,
                          " of ", e.a);
    case HubEventKind::kLoopExit:
      return "loop exit";
    case HubEventKind::kSleep:
      return absl::StrCat(g, " sleeps ", FormatDuration(e.a),
                          e.b == 0 ? " (unref)" : "");
    case HubEventKind::kTimeoutFired:
      return absl::StrCat("timeout fired in ", g);
    case HubEventKind::kKill:
      return absl::StrCat("kill ", g);
    case HubEventKind::kLinkNotified:
      return "link notified";
    case HubEventKind::kNote:
      return absl::StrCat("note by ", g, ": ", Printable(e.text));
    case HubEventKind::kTimerStarted:
      return absl::StrCat("timer #", e.a, " started by ", g, " (",
                          FormatDuration(e.b), ")");
    case HubEventKind::kForeignWork:
      return e.a == 0 ? std::string("took a callback from another thread")
                      : absl::StrCat("took the callback of thread work #", e.a);
  }
  return absl::StrCat("unknown event kind ", static_cast<int>(e.kind));
}

std::string FormatLine(const Event& e) {
  char idx[32];
  snprintf(idx, sizeof idx, "#%-6" PRIu64, e.index);
  std::string who = HasGreenlet(e.kind) ? GreenletName(e.greenlet) : "hub";
  if (who.size() < 6) who.resize(6, ' ');
  return absl::StrCat(idx, " ", FormatTime(e.time_ns), " ", who, " ",
                      Describe(e));
}

bool SameEvent(const Event& x, const Event& y, bool compare_times) {
  if (x.kind != y.kind) return false;
  if (x.kind == kNetCall) {
    return (!compare_times || x.time_ns == y.time_ns) && x.a == y.a && x.b == y.b &&
           x.c == y.c &&
           x.fd == y.fd && x.arg2 == y.arg2 && x.new_fd == y.new_fd &&
           x.address == y.address && x.payload == y.payload && x.has_crc == y.has_crc &&
           x.crc == y.crc && x.text == y.text && x.resolved == y.resolved;
  }
  if ((compare_times || x.kind == HubEventKind::kTimeAdvanced) &&
      x.time_ns != y.time_ns) {
    return false;
  }
  if (x.greenlet != y.greenlet) return false;
  switch (x.kind) {
    case HubEventKind::kSpawn:
      return x.a == y.a && x.name == y.name;
    case HubEventKind::kFinish:
      return x.a == y.a && x.text == y.text && x.name == y.name;
    case HubEventKind::kNote:
      return x.text == y.text;
    case HubEventKind::kTimeAdvanced:
      return true;  // the time says it all (a depends on epoll re-reads)
    default:
      return x.a == y.a && x.b == y.b && x.c == y.c;
  }
}

}  // namespace trace
}  // namespace gevent
