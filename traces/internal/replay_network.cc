#include "traces/internal/replay_network.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "runtime/hub.h"
#include "runtime/watchers.h"
#include "traces/internal/crc32c.h"
#include "traces/replay.h"

namespace gevent {
namespace trace {
namespace internal {
namespace {

std::string SockaddrBytes(const Address* a) {
  if (a == nullptr || a->length() == 0) return "";
  return std::string(reinterpret_cast<const char*>(a->sockaddr()), a->length());
}

// The address a trace holds, or false if its bytes are not one.
bool AddressFrom(const std::string& bytes, Address* out) {
  if (bytes.empty() || bytes.size() > sizeof(sockaddr_storage)) return false;
  sockaddr_storage ss{};
  memcpy(&ss, bytes.data(), bytes.size());
  try {
    *out = Address::FromSockaddr(reinterpret_cast<const sockaddr*>(&ss),
                                 static_cast<socklen_t>(bytes.size()));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

bool Receives(NetOp op) {
  return op == NetOp::kRecv || op == NetOp::kPeek || op == NetOp::kRecvFrom;
}
bool Sends(NetOp op) { return op == NetOp::kSend || op == NetOp::kSendTo; }
// Calls whose answer includes an address.
bool AnswersAddress(NetOp op) {
  return op == NetOp::kAccept || op == NetOp::kRecvFrom ||
         op == NetOp::kLocalAddress || op == NetOp::kPeerAddress;
}
// Calls whose address is the program's (compared).
bool AsksAddress(NetOp op) {
  return op == NetOp::kBind || op == NetOp::kConnect || op == NetOp::kSendTo;
}

}  // namespace

// A socket of the replay: every call is answered by the trace.
class ReplaySocket final : public SocketTransport {
 public:
  ReplaySocket(ReplayNetwork* net, int fd, SocketType type)
      : SocketTransport(net->hub()), net_(net), fd_(fd), type_(type), watch_(fd, this) {
    // As a kernel socket: a greenlet waiting for the network keeps the
    // loop alive (the trace says when the readiness comes).
    waits_keep_loop_alive_ = true;
    net_->Register(this);
    net_->Add(fd, this);
    hub()->start(&watch_, /*ref=*/false);
  }
  ~ReplaySocket() override {
    if (!orphaned()) {
      net_->Unregister(this);
      net_->Remove(fd_, this);
    }
    if (open_) Close();
  }

  int fileno() const override { return fd_; }

  int Bind(const Address& a) override { return Simple(NetOp::kBind, 0, 0, &a); }
  int Listen(int backlog) override { return Simple(NetOp::kListen, backlog); }
  int Connect(const Address& a) override { return Simple(NetOp::kConnect, 0, 0, &a); }
  int ConnectResult() override { return Simple(NetOp::kConnectResult); }
  int Accept(std::unique_ptr<SocketTransport>* out, Address* peer) override {
    Event e;
    if (!net_->Take(NetOp::kAccept, fd_, 0, 0, nullptr, nullptr, &e)) return -EIO;
    if (e.b == 0) {
      auto s = std::make_unique<ReplaySocket>(net_, static_cast<int>(e.new_fd), type_);
      if (bytes_private()) s->set_bytes_private(true);
      *out = std::move(s);
      AddressFrom(e.address, peer);
    }
    return static_cast<int>(e.b);
  }
  ssize_t Recv(void* buf, size_t len, bool peek) override {
    return Received(peek ? NetOp::kPeek : NetOp::kRecv, buf, len, nullptr);
  }
  ssize_t RecvFrom(void* buf, size_t len, Address* from) override {
    return Received(NetOp::kRecvFrom, buf, len, from);
  }
  ssize_t Send(const void* buf, size_t len) override {
    Event e;
    if (!net_->Take(NetOp::kSend, fd_, static_cast<int64_t>(len), 0, nullptr, buf, &e)) {
      return -EIO;
    }
    return e.b;
  }
  ssize_t SendTo(const void* buf, size_t len, const Address& to) override {
    Event e;
    if (!net_->Take(NetOp::kSendTo, fd_, static_cast<int64_t>(len), 0, &to, buf, &e)) {
      return -EIO;
    }
    return e.b;
  }
  int Shutdown(int how) override { return Simple(NetOp::kShutdown, how); }
  int SetOption(SocketOption option, int value) override {
    return Simple(NetOp::kSetOption, static_cast<int64_t>(option), value);
  }
  int GetOption(SocketOption option, int* value) override {
    Event e;
    if (!net_->Take(NetOp::kGetOption, fd_, static_cast<int64_t>(option), 0, nullptr,
                    nullptr, &e)) {
      return -EIO;
    }
    if (e.b == 0) *value = static_cast<int>(e.arg2);
    return static_cast<int>(e.b);
  }
  int LocalAddress(Address* out) override { return Named(NetOp::kLocalAddress, out); }
  int PeerAddress(Address* out) override { return Named(NetOp::kPeerAddress, out); }
  void Close() override {
    if (!open_) return;
    open_ = false;
    hub()->stop(&watch_);
    if (!orphaned()) net_->Remove(fd_, this);
    Event e;
    net_->Take(NetOp::kClose, fd_, 0, 0, nullptr, nullptr, &e);
  }
  std::string Describe() const override {
    return absl::StrCat("socket fd ", fd_, " (replayed)");
  }

  // The replay stopped: waiters retry, and get EIO.
  void WakeForStop() { NotifyReady(kRead | kWrite); }

 private:
  struct Watch : IoWatcher {
    Watch(int fd, ReplaySocket* s) : IoWatcher(fd, kRead | kWrite, &Fire), owner(s) {}
    static void Fire(IoWatcher* w, uint32_t revents) {
      static_cast<Watch*>(w)->owner->NotifyReady(revents);
    }
    ReplaySocket* owner;
  };

  int Simple(NetOp op, int64_t arg = 0, int64_t arg2 = 0, const Address* a = nullptr) {
    Event e;
    if (!net_->Take(op, fd_, arg, arg2, a, nullptr, &e)) return -EIO;
    return static_cast<int>(e.b);
  }
  int Named(NetOp op, Address* out) {
    Event e;
    if (!net_->Take(op, fd_, 0, 0, nullptr, nullptr, &e)) return -EIO;
    if (e.b == 0) AddressFrom(e.address, out);
    return static_cast<int>(e.b);
  }
  ssize_t Received(NetOp op, void* buf, size_t len, Address* from) {
    Event e;
    if (!net_->Take(op, fd_, static_cast<int64_t>(len), 0, nullptr, nullptr, &e)) {
      return -EIO;
    }
    if (e.b > 0) {
      // Take checked that the count fits the buffer, and the payload the
      // count.
      const auto n = static_cast<size_t>(e.b);
      const size_t have = e.payload.size();
      memcpy(buf, e.payload.data(), have);
      if (have < n) {
        memset(static_cast<char*>(buf) + have, 0, n - have);
        net_->MissingBytes(fd_, e.b, have);
      }
    }
    if (e.b >= 0 && from != nullptr) AddressFrom(e.address, from);
    return e.b;
  }

  ReplayNetwork* net_;
  int fd_;
  SocketType type_;
  bool open_ = true;
  Watch watch_;
};

ReplayNetwork::~ReplayNetwork() = default;

bool ReplayNetwork::stopped() const { return !replayer_->replaying(); }

std::unique_ptr<SocketTransport> ReplayNetwork::Open(int family, SocketType type,
                                                     int* error) {
  Event e;
  if (!Take(NetOp::kOpen, -1, family, static_cast<int64_t>(type), nullptr, nullptr, &e)) {
    *error = EIO;
    return nullptr;
  }
  if (e.b < 0) {
    *error = static_cast<int>(-e.b);
    return nullptr;
  }
  return std::make_unique<ReplaySocket>(this, static_cast<int>(e.b), type);
}

std::vector<Address> ReplayNetwork::Resolve(const std::string& host, uint16_t port) {
  // On epoll the answer came back from a thread pool: its hand-back is
  // work from another thread, which the replay takes where the trace did.
  if (resolver_ == nullptr) resolver_ = std::make_unique<ThreadPool>(10);
  resolver_->spawn([] { return 0; })->get();
  Event e;
  if (!Take(NetOp::kResolve, -1, port, 0, nullptr, nullptr, &e, &host)) {
    throw std::system_error(EIO, std::generic_category(),
                            absl::StrCat("resolve '", host, "': the replay stopped"));
  }
  if (e.b < 0) {
    throw std::system_error(static_cast<int>(-e.b), std::generic_category(),
                            e.text.empty() ? absl::StrCat("resolve '", host, "'") : e.text);
  }
  std::vector<Address> out;
  for (const std::string& bytes : e.resolved) {
    Address a;
    if (AddressFrom(bytes, &a)) out.push_back(a.with_port(port));
  }
  return out;
}

void ReplayNetwork::Stop() {
  // From the hub (a callback), not from wherever the replay stopped (the
  // loop's wait, a greenlet's call).
  hub_->run_callback([this] {
    std::vector<ReplaySocket*> all;
    for (auto& [fd, s] : sockets_) all.push_back(s);
    for (ReplaySocket* s : all) s->WakeForStop();
  });
}

bool ReplayNetwork::Take(NetOp op, int fd, int64_t arg, int64_t arg2,
                         const Address* address, const void* sent, Event* out,
                         const std::string* name) {
  if (stopped()) return false;
  const Event* next = replayer_->PeekForNetwork();
  // The call as the program makes it, for a report.
  Event actual;
  actual.kind = kNetCall;
  actual.a = static_cast<int64_t>(op);
  actual.fd = fd;
  actual.c = arg;
  actual.arg2 = arg2;
  actual.address = SockaddrBytes(address);
  if (name != nullptr) actual.payload = *name;
  std::string why;
  bool same = next != nullptr && next->kind == kNetCall && next->a == actual.a;
  if (same) {
    if (op == NetOp::kOpen) {
      same = next->c == arg && next->arg2 == arg2;
    } else if (op == NetOp::kResolve) {
      same = next->fd == -1 && next->c == arg && name != nullptr && next->payload == *name &&
             (next->b < 0 || static_cast<size_t>(next->b) == next->resolved.size());
      if (!same && next->fd == -1 && next->c == arg && name != nullptr &&
          next->payload == *name) {
        why = " (the trace's count of addresses does not fit: a damaged trace)";
      }
    } else {
      same = next->fd == fd;
      if (op != NetOp::kAccept && op != NetOp::kConnectResult &&
          op != NetOp::kLocalAddress && op != NetOp::kPeerAddress &&
          op != NetOp::kClose && op != NetOp::kBind && op != NetOp::kConnect) {
        same = same && next->c == arg;
      }
      if (op == NetOp::kSetOption) same = same && next->arg2 == arg2;
      if (AsksAddress(op)) same = same && next->address == actual.address;
    }
  }
  if (same && (Receives(op) || Sends(op)) &&
      (next->b > arg || static_cast<int64_t>(next->payload.size()) > std::max<int64_t>(next->b, 0))) {
    same = false;
    why = " (the trace's count does not fit: a damaged trace)";
  }
  Address check;
  if (same && AnswersAddress(op) && next->b >= 0 && !next->address.empty() &&
      !AddressFrom(next->address, &check)) {
    same = false;
    why = " (the trace's address is not one: a damaged trace)";
  }
  if (same && op == NetOp::kAccept && next->b == 0 &&
      (next->new_fd < 0 || next->new_fd > INT32_MAX)) {
    same = false;
    why = " (the trace's new descriptor is out of range: a damaged trace)";
  }
  if (same && op == NetOp::kOpen && next->b > INT32_MAX) {
    same = false;
    why = " (the trace's descriptor is out of range: a damaged trace)";
  }
  if (same && Sends(op) && next->has_crc && next->b > 0) {
    const uint32_t crc = Crc32c(0, sent, static_cast<size_t>(next->b));
    if (crc != next->crc) {
      same = false;
      why = absl::StrCat(" with other bytes (their CRC-32C is ", crc,
                         ", the recorded bytes' ", next->crc, ")");
    }
  }
  if (!same) {
    std::string line = DescribeNetCall(actual);
    const size_t arrow = line.find(" -> ");
    if (arrow != std::string::npos) line.resize(arrow);
    line = absl::StrCat("(the program calls) ", line);
    replayer_->DivergeFromNetwork(next, absl::StrCat(line, why));
    return false;
  }
  replayer_->ConsumeForNetwork(out);
  return true;
}

void ReplayNetwork::MissingBytes(int fd, int64_t need, size_t have) {
  ++calls_missing_bytes_;
  bytes_missing_ += static_cast<uint64_t>(need) - have;
  if (first_missing_.empty()) {
    first_missing_ = absl::StrCat("fd ", fd, ": ", need, " bytes received, ", have,
                                  " kept");
  }
}

std::string ReplayNetwork::MissingBytesNote() const {
  if (calls_missing_bytes_ == 0) return "";
  return absl::StrCat(
      "note: the trace lacks the bytes of ", calls_missing_bytes_,
      " receive calls (", bytes_missing_,
      " bytes; its payload policy kept only lengths, or the connection was "
      "private; first: ",
      first_missing_, "): the replay gave the program zero bytes in their place");
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent
