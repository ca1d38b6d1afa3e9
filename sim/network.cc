#include "sim/network.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/hub_backend.h"
#include "runtime/wait.h"

namespace gevent {
namespace sim {
namespace {

// Same-host messages (127.0.0.1, or a host's own address).
const LinkOptions kLoopback{absl::Microseconds(10), absl::Microseconds(10), 0, 0};

bool IsLoopback(const Address& a) {
  const std::string h = a.host();
  return (a.family() == AF_INET && (absl::StartsWith(h, "127.") || h == "0.0.0.0")) ||
         (a.family() == AF_INET6 && (h == "::1" || h == "::"));
}

struct Segment {
  int64_t arrival;
  size_t size;  // its bytes are the next `size` of Pipe::flight_bytes
  bool fin = false;
};

// One direction of a connection: from ends[i] to ends[1 - i].
struct Pipe {
  std::deque<Segment> flight;  // sent, not landed (in arrival order)
  std::string flight_bytes;    // their bytes, from flight_pos
  size_t flight_pos = 0;
  std::string readable;        // landed, not read (from read_pos)
  size_t read_pos = 0;
  size_t in_flight = 0;  // bytes in `flight`
  int64_t last_arrival = 0;
  bool fin_sent = false;
  bool fin_landed = false;
  size_t unread() const { return readable.size() - read_pos; }
};

}  // namespace

// A TCP connection between two simulated sockets. It outlives them: events
// in flight hold it.
struct Conn {
  SimSocket* ends[2] = {nullptr, nullptr};
  uint32_t hosts[2] = {0, 0};
  Pipe pipes[2];
  bool reset[2] = {false, false};  // an RST landed at side i
  int error[2] = {0, 0};           // reported once by the next recv/send
  bool aborted = false;            // an RST was sent: no more FIN
  bool timeout_live = false;       // the connect's timeout is not moot yet
};

class SimSocket final : public SocketTransport {
 public:
  enum class State : uint8_t { kFresh, kConnecting, kConnected, kListening, kFailed };

  SimSocket(Network* net, uint32_t host, int family, SocketType type)
      : SocketTransport(net->hub()),
        net_(net),
        id_(net->NextSocketId()),
        host_(host),
        family_(family),
        type_(type) {
    wait_tracker_ = net;
    net_->Register(this);
    net_->Track(this);
  }
  ~SimSocket() override {
    if (orphaned()) return;
    Close();
    net_->Unregister(this);
  }

  Host& host() const { return net_->host_at(host_); }

  int Bind(const Address& a) override {
    if (Dead()) return -ENETDOWN;
    if (!bound_key_.empty()) return -EINVAL;
    if (a.family() != family_) return -EAFNOSUPPORT;
    if (a.family() != AF_UNIX && !IsLoopback(a) && a.host() != host().ip()) {
      return -EADDRNOTAVAIL;
    }
    return BindPort(a, a.port());
  }

  int Listen(int backlog) override {
    if (Dead()) return -ENETDOWN;
    if (type_ != SocketType::kStream) return -EOPNOTSUPP;
    if (state_ == State::kConnected || state_ == State::kConnecting) return -EINVAL;
    if (bound_key_.empty()) {
      int r = BindPort(AnyAddress(), 0);
      if (r < 0) return r;
    }
    state_ = State::kListening;
    backlog_ = std::max(1, backlog);
    return 0;
  }

  int Connect(const Address& a) override;
  int ConnectResult() override {
    switch (state_) {
      case State::kConnected: return 0;
      case State::kConnecting: return -EINPROGRESS;
      case State::kFailed: {
        state_ = State::kFresh;
        return -connect_error_;
      }
      default: return -ENOTCONN;
    }
  }

  int Accept(std::unique_ptr<SocketTransport>* out, Address* peer) override {
    if (Dead()) return -ENETDOWN;
    if (state_ != State::kListening) return -EINVAL;
    if (accept_queue_.empty()) return -EAGAIN;
    std::unique_ptr<SimSocket> s = std::move(accept_queue_.front());
    accept_queue_.pop_front();
    *peer = s->peer_;
    *out = std::move(s);
    return 0;
  }

  ssize_t Recv(void* buf, size_t len, bool peek) override {
    if (type_ == SocketType::kDatagram) {
      Address from;
      return Datagram(buf, len, &from, peek);
    }
    if (state_ == State::kConnecting) return -EAGAIN;
    if (state_ != State::kConnected) return -ENOTCONN;
    Conn& c = *conn_;
    Pipe& in = c.pipes[1 - side_];
    const size_t avail = in.unread();
    if (avail > 0 && !shut_rd_) {
      const size_t n = std::min(len, avail);
      std::memcpy(buf, in.readable.data() + in.read_pos, n);
      if (!peek) {
        in.read_pos += n;
        if (in.read_pos == in.readable.size()) {
          in.readable.clear();
          in.read_pos = 0;
        } else if (in.read_pos > 64 * 1024 && in.read_pos * 2 > in.readable.size()) {
          in.readable.erase(0, in.read_pos);
          in.read_pos = 0;
        }
        // Room in the peer's send window.
        if (SimSocket* peer = c.ends[1 - side_]) peer->Notify(kWrite);
      }
      return static_cast<ssize_t>(n);
    }
    if (c.error[side_] != 0) {
      int e = c.error[side_];
      c.error[side_] = 0;
      return -e;
    }
    if (in.fin_landed || shut_rd_ || c.reset[side_] || len == 0) return 0;
    return -EAGAIN;
  }

  ssize_t Send(const void* buf, size_t len) override {
    if (Dead()) return -ENETDOWN;
    if (type_ == SocketType::kDatagram) {
      if (peer_.empty()) return -EDESTADDRREQ;
      return SendTo(buf, len, peer_);
    }
    if (state_ == State::kConnecting) return -EAGAIN;
    if (state_ != State::kConnected) return -EPIPE;  // as Linux says
    Conn& c = *conn_;
    if (c.error[side_] != 0) {
      int e = c.error[side_];
      c.error[side_] = 0;
      return -e;
    }
    if (c.reset[side_] || shut_wr_) return -EPIPE;
    if (len == 0) return 0;
    Pipe& out = c.pipes[side_];
    const size_t held = out.in_flight + out.unread();
    const size_t cap = net_->options().buffer;
    if (held >= cap) return -EAGAIN;
    const size_t n = std::min(len, cap - held);
    size_t parts = 1;
    if (net_->options().split_sends && n > 1) {
      parts = 1 + net_->Choose(Decision::kNetSplit, std::min<size_t>(4, n), host_,
                               c.hosts[1 - side_]);
    }
    const char* p = static_cast<const char*>(buf);
    size_t left = n;
    for (size_t i = 0; i < parts; ++i) {
      const size_t chunk = i + 1 == parts ? left : n / parts;
      Emit(p, chunk, false);
      p += chunk;
      left -= chunk;
    }
    return static_cast<ssize_t>(n);
  }

  ssize_t SendTo(const void* buf, size_t len, const Address& to) override;
  ssize_t RecvFrom(void* buf, size_t len, Address* from) override {
    if (type_ == SocketType::kDatagram) return Datagram(buf, len, from, false);
    ssize_t n = Recv(buf, len, false);
    if (n >= 0) *from = peer_;
    return n;
  }

  int Shutdown(int how) override {
    if (type_ == SocketType::kStream && state_ != State::kConnected) return -ENOTCONN;
    if (how == SHUT_RD || how == SHUT_RDWR) {
      shut_rd_ = true;
      Notify(kRead);
    }
    if ((how == SHUT_WR || how == SHUT_RDWR) && type_ == SocketType::kStream && !shut_wr_) {
      shut_wr_ = true;
      if (!conn_->aborted && !conn_->reset[side_]) Emit(nullptr, 0, true);
      Notify(kWrite);
    }
    return 0;
  }

  int SetOption(SocketOption option, int value) override {
    options_[static_cast<int>(option)] = value;
    return 0;
  }
  int GetOption(SocketOption option, int* value) override {
    auto it = options_.find(static_cast<int>(option));
    if (it != options_.end()) {
      *value = it->second;
    } else if (option == SocketOption::kSendBuffer || option == SocketOption::kRecvBuffer) {
      *value = static_cast<int>(net_->options().buffer);
    } else {
      *value = 0;
    }
    return 0;
  }
  int LocalAddress(Address* out) override {
    *out = local_.empty() ? AnyAddress() : local_;
    return 0;
  }
  int PeerAddress(Address* out) override {
    if (peer_.empty() || (type_ == SocketType::kStream && state_ != State::kConnected)) {
      return -ENOTCONN;
    }
    *out = peer_;
    return 0;
  }

  void Close() override {
    if (closed_once_) return;
    closed_once_ = true;
    Unbind();
    if (state_ == State::kConnecting) TimeoutMoot();
    if (conn_ != nullptr) {
      Conn& c = *conn_;
      c.ends[side_] = nullptr;
      if (state_ == State::kConnected && !c.reset[side_] && !c.aborted) {
        // Unread data left behind: the kernel answers with a reset.
        if (c.pipes[1 - side_].unread() > 0 || c.pipes[1 - side_].in_flight > 0) {
          Abort();
        } else if (!shut_wr_) {
          shut_wr_ = true;
          Emit(nullptr, 0, true);
        }
      }
    }
    // Connections waiting to be accepted are refused with a reset.
    while (!accept_queue_.empty()) {
      std::unique_ptr<SimSocket> s = std::move(accept_queue_.front());
      accept_queue_.pop_front();
      s->Abort();
    }
    state_ = State::kFresh;
    net_->Untrack(this);
  }

  std::string Describe() const override {
    std::string what = type_ == SocketType::kStream ? "stream" : "datagram";
    if (state_ == State::kListening) what = "listening";
    std::string s = absl::StrCat("simulated ", what, " socket ",
                                 local_.empty() ? std::string("(unbound)") : local_.ToString());
    if (!peer_.empty()) absl::StrAppend(&s, " -> ", peer_.ToString());
    return absl::StrCat(s, " on host '", host().name(), "'");
  }

  // ---- for the network ----
  uint32_t host_id() const { return host_; }
  // The host crashed: resets the connection (the peer gets ECONNRESET),
  // drops everything queued, and fails every later call.
  void Crash() {
    dead_ = true;
    Abort();
    Close();
  }
  // Sends an RST to the peer, once.
  void Abort();
  void Notify(uint32_t events) { NotifyReady(events); }

  // A SYN reached this listener: queues a new connection (false: backlog
  // full).
  bool OfferConnection(const std::shared_ptr<Conn>& conn, const Address& local,
                       const Address& client);
  // The SYN-ACK (or a refusal) reached this connecting socket.
  void Established() {
    if (state_ != State::kConnecting) return;
    TimeoutMoot();
    state_ = State::kConnected;
    Notify(kWrite);
  }
  void ConnectFailed(int err) {
    if (state_ != State::kConnecting) return;
    TimeoutMoot();
    state_ = State::kFailed;
    connect_error_ = err;
    if (conn_ != nullptr) conn_->ends[side_] = nullptr;
    conn_.reset();
    Notify(kRead | kWrite);
  }
  // A datagram landed here.
  void Deliver(const Address& from, std::string data) {
    if (dead_ || inbox_.size() >= net_->options().datagram_queue) return;
    inbox_.emplace_back(from, std::move(data));
    Notify(kRead);
  }
  bool listening() const { return state_ == State::kListening; }
  const Address& local() const { return local_; }

 private:
  bool Dead() const { return dead_ || !host().up(); }
  // The connect finished: its timeout will come to nothing.
  void TimeoutMoot() {
    if (conn_ != nullptr && conn_->timeout_live) {
      conn_->timeout_live = false;
      net_->LaterMoot();
    }
  }
  Address AnyAddress() const {
    if (family_ == AF_INET6) return Address::Ip("::", 0);
    if (family_ == AF_UNIX) return Address();
    return Address::Ip("0.0.0.0", 0);
  }
  std::string KeyFor(uint16_t port, const Address& a) const {
    if (family_ == AF_UNIX) return absl::StrCat("unix:", a.host());
    return absl::StrCat(type_ == SocketType::kStream ? "tcp:" : "udp:", port);
  }
  int BindPort(const Address& a, uint16_t port) {
    Host& h = host();
    if (family_ != AF_UNIX && port == 0) {
      // The next free ephemeral port (49152-65535), round robin.
      for (int tries = 0; tries < 16384; ++tries) {
        uint16_t p = static_cast<uint16_t>(h.next_port_);
        h.next_port_ = h.next_port_ == 65535 ? 49152 : h.next_port_ + 1;
        if (h.bound_.count(KeyFor(p, a)) == 0) {
          port = p;
          break;
        }
      }
      if (port == 0) return -EADDRNOTAVAIL;
    }
    std::string key = KeyFor(port, a);
    if (h.bound_.count(key) != 0) return -EADDRINUSE;
    h.bound_[key] = this;
    bound_key_ = key;
    local_ = family_ == AF_UNIX ? a : a.with_port(port);
    return 0;
  }
  void Unbind() {
    if (bound_key_.empty()) return;
    Host& h = host();
    auto it = h.bound_.find(bound_key_);
    if (it != h.bound_.end() && it->second == this) h.bound_.erase(it);
    bound_key_.clear();
  }
  // Queues `data` (or a FIN) on this side's outgoing pipe.
  void Emit(const char* data, size_t size, bool fin);
  ssize_t Datagram(void* buf, size_t len, Address* from, bool peek) {
    if (inbox_.empty()) return Dead() ? -ENETDOWN : -EAGAIN;
    auto& front = inbox_.front();
    const size_t n = std::min(len, front.second.size());
    std::memcpy(buf, front.second.data(), n);
    *from = front.first;
    if (!peek) inbox_.pop_front();
    return static_cast<ssize_t>(n);
  }

  friend class Network;
  friend void LandSegments(Network* net, const std::shared_ptr<Conn>& conn, int side);

  Network* net_;
  const uint64_t id_;
  const uint32_t host_;
  const int family_;
  const SocketType type_;
  State state_ = State::kFresh;
  int connect_error_ = 0;
  Address local_;
  Address peer_;
  std::string bound_key_;
  std::shared_ptr<Conn> conn_;
  int side_ = 0;
  int backlog_ = 0;
  std::deque<std::unique_ptr<SimSocket>> accept_queue_;
  std::deque<std::pair<Address, std::string>> inbox_;
  std::map<int, int> options_;
  bool shut_rd_ = false;
  bool shut_wr_ = false;
  bool dead_ = false;
  bool closed_once_ = false;
};

// ---- stream segments

void LandSegments(Network* net, const std::shared_ptr<Conn>& conn, int side);

namespace {

void ResetLands(const std::shared_ptr<Conn>& conn, int side) {
  Conn& c = *conn;
  if (c.reset[side]) return;
  c.reset[side] = true;
  c.error[side] = ECONNRESET;
  if (SimSocket* s = c.ends[side]) s->Notify(SocketTransport::kRead | SocketTransport::kWrite);
}

std::string ListenKey(const Address& dst) {
  if (dst.family() == AF_UNIX) return absl::StrCat("unix:", dst.host());
  return absl::StrCat("tcp:", dst.port());
}

void SendSyn(Network* net, std::shared_ptr<Conn> conn, uint32_t target, Address dst,
             Address src, int attempt) {
  net->Deliver(conn->hosts[0], target, [net, conn, target, dst, src, attempt] {
    SimSocket* client = conn->ends[0];
    if (client == nullptr) return;
    Host& h = net->host_at(target);
    if (!h.up()) return;  // nobody answers: the connect times out
    auto it = h.bound_for_syn(ListenKey(dst));
    if (it == nullptr || !it->listening()) {
      net->Deliver(target, conn->hosts[0], [conn] {
        if (SimSocket* c = conn->ends[0]) c->ConnectFailed(ECONNREFUSED);
      });
      return;
    }
    if (!it->OfferConnection(conn, dst, src)) {
      // The backlog is full: the SYN is dropped and retried (1 s, doubling).
      const int64_t retry = int64_t{1000000000} << std::min(attempt, 6);
      net->At(net->NowNs() + retry, [net, conn, target, dst, src, attempt] {
        SendSyn(net, conn, target, dst, src, attempt + 1);
      });
      return;
    }
    net->Deliver(target, conn->hosts[0], [conn] {
      if (SimSocket* c = conn->ends[0]) c->Established();
    });
  });
}

}  // namespace

void LandSegments(Network* net, const std::shared_ptr<Conn>& conn, int side) {
  Conn& c = *conn;
  Pipe& p = c.pipes[side];
  if (p.flight.empty()) return;
  const uint32_t from = c.hosts[side];
  const uint32_t to = c.hosts[1 - side];
  if (net->Cut(from, to)) {
    // TCP retransmits: what is in flight lands once the link is back.
    net->AfterHeal([net, conn, side, from, to] {
      net->Deliver(from, to, [net, conn, side] { LandSegments(net, conn, side); });
    });
    return;
  }
  const int64_t now = net->NowNs();
  bool landed = false;
  bool landed_data = false;
  while (!p.flight.empty() && p.flight.front().arrival <= now) {
    const Segment s = p.flight.front();
    p.flight.pop_front();
    p.in_flight -= s.size;
    const size_t at = p.flight_pos;
    p.flight_pos += s.size;
    if (c.reset[1 - side]) continue;  // the receiver was reset: dropped
    if (s.fin) {
      p.fin_landed = true;
    } else {
      if (p.read_pos == p.readable.size()) {
        p.readable.clear();
        p.read_pos = 0;
      }
      p.readable.append(p.flight_bytes, at, s.size);
      landed_data = true;
    }
    landed = true;
    net->CountDelivery();
  }
  if (p.flight_pos == p.flight_bytes.size()) {
    p.flight_bytes.clear();
    p.flight_pos = 0;
  } else if (p.flight_pos > 64 * 1024 && p.flight_pos * 2 > p.flight_bytes.size()) {
    p.flight_bytes.erase(0, p.flight_pos);
    p.flight_pos = 0;
  }
  if (!landed) return;
  SimSocket* receiver = c.ends[1 - side];
  if (receiver == nullptr) {
    // Data for a socket that is closed: its kernel answers with a reset.
    if (landed_data && !c.aborted && !c.reset[side]) {
      c.aborted = true;
      net->Deliver(to, from, [conn, side] { ResetLands(conn, side); });
    }
    return;
  }
  receiver->Notify(SocketTransport::kRead);
}

void SimSocket::Emit(const char* data, size_t size, bool fin) {
  Conn& c = *conn_;
  Pipe& out = c.pipes[side_];
  int64_t arrival = net_->ArrivalNs(c.hosts[side_], c.hosts[1 - side_]);
  // A cut link: it tries to land now and waits for heal() there.
  if (arrival < 0) arrival = net_->NowNs();
  arrival = std::max(arrival, out.last_arrival);  // a stream stays in order
  out.last_arrival = arrival;
  out.in_flight += size;
  if (fin) out.fin_sent = true;
  if (size > 0) out.flight_bytes.append(data, size);
  out.flight.push_back(Segment{arrival, size, fin});
  net_->LandAt(arrival, conn_, side_);
}

void SimSocket::Abort() {
  if (conn_ == nullptr || state_ != State::kConnected) return;
  Conn& c = *conn_;
  if (c.aborted || c.reset[side_]) return;
  c.aborted = true;
  std::shared_ptr<Conn> conn = conn_;
  const int peer = 1 - side_;
  net_->Deliver(c.hosts[side_], c.hosts[peer], [conn, peer] { ResetLands(conn, peer); },
                c.pipes[side_].last_arrival);
}

int SimSocket::Connect(const Address& a) {
  if (Dead()) return -ENETDOWN;
  if (a.family() != family_) return -EAFNOSUPPORT;
  if (type_ == SocketType::kDatagram) {
    if (bound_key_.empty()) {
      int r = BindPort(AnyAddress(), 0);
      if (r < 0) return r;
    }
    peer_ = a;
    return 0;
  }
  switch (state_) {
    case State::kConnected: return -EISCONN;
    case State::kConnecting: return -EALREADY;
    case State::kListening: return -EINVAL;
    default: break;
  }
  if (bound_key_.empty() && family_ != AF_UNIX) {
    int r = BindPort(AnyAddress(), 0);
    if (r < 0) return r;
  }
  Host* target = net_->HostOf(a, host_);
  if (family_ != AF_UNIX) {
    // The address the peer sees.
    std::string ip = IsLoopback(a) ? (family_ == AF_INET6 ? "::1" : "127.0.0.1")
                                   : (family_ == AF_INET6 ? "::1" : host().ip());
    local_ = Address::Ip(ip, local_.port());
  }
  peer_ = a;
  conn_ = std::make_shared<Conn>();
  side_ = 0;
  conn_->ends[0] = this;
  conn_->hosts[0] = host_;
  state_ = State::kConnecting;
  if (target != nullptr) SendSyn(net_, conn_, target->id(), a, local_, 0);
  std::weak_ptr<Conn> weak = conn_;
  conn_->timeout_live = true;
  Network* net = net_;
  net_->Later(net_->NowNs() + absl::ToInt64Nanoseconds(net_->options().connect_timeout),
              [net, weak] {
                std::shared_ptr<Conn> c = weak.lock();
                if (c == nullptr || !c->timeout_live) return;
                c->timeout_live = false;
                net->LaterMoot();
                if (SimSocket* s = c->ends[0]) s->ConnectFailed(ETIMEDOUT);
              });
  return -EINPROGRESS;
}

bool SimSocket::OfferConnection(const std::shared_ptr<Conn>& conn, const Address& local,
                                const Address& client) {
  if (static_cast<int>(accept_queue_.size()) >= backlog_) return false;
  auto s = std::make_unique<SimSocket>(net_, host_, family_, SocketType::kStream);
  s->state_ = State::kConnected;
  s->conn_ = conn;
  s->side_ = 1;
  s->local_ = local;
  s->peer_ = client;
  conn->ends[1] = s.get();
  conn->hosts[1] = host_;
  accept_queue_.push_back(std::move(s));
  Notify(kRead);
  return true;
}

ssize_t SimSocket::SendTo(const void* buf, size_t len, const Address& to) {
  if (Dead()) return -ENETDOWN;
  if (type_ != SocketType::kDatagram) {
    return state_ == State::kConnected ? -EISCONN : -ENOTCONN;
  }
  if (to.family() != family_) return -EAFNOSUPPORT;
  if (len > 65507) return -EMSGSIZE;
  if (bound_key_.empty()) {
    int r = BindPort(AnyAddress(), 0);
    if (r < 0) return r;
  }
  Host* target = net_->HostOf(to, host_);
  if (target == nullptr) return static_cast<ssize_t>(len);  // nobody: lost
  Address from = local_;
  if (family_ != AF_UNIX) {
    std::string ip = (target->id() == host_ || IsLoopback(to))
                         ? (family_ == AF_INET6 ? "::1" : "127.0.0.1")
                         : host().ip();
    from = Address::Ip(ip, local_.port());
  }
  const LinkOptions& link = net_->Link(host_, target->id());
  if (net_->Roll(Decision::kNetLoss, link.loss, host_, target->id())) {
    return static_cast<ssize_t>(len);
  }
  const int copies =
      net_->Roll(Decision::kNetDuplicate, link.duplicate, host_, target->id()) ? 2 : 1;
  const std::string key = family_ == AF_UNIX ? absl::StrCat("unix:", to.host())
                                             : absl::StrCat("udp:", to.port());
  for (int i = 0; i < copies; ++i) {
    const int64_t when = net_->ArrivalNs(host_, target->id());
    if (when < 0) break;  // a cut link loses datagrams
    Network* net = net_;
    const uint32_t tid = target->id();
    std::string data(static_cast<const char*>(buf), len);
    net_->At(when, [net, tid, key, from, data = std::move(data)]() mutable {
      SimSocket* s = net->host_at(tid).bound_for_syn(key);
      if (s == nullptr || !net->host_at(tid).up()) return;
      net->CountDelivery();
      s->Deliver(from, std::move(data));
    });
  }
  return static_cast<ssize_t>(len);
}

// ---- Host

std::shared_ptr<Greenlet<void>> Host::spawn(std::function<void()> fn) {
  if (!fn) throw std::invalid_argument("Host::spawn: the function is empty");
  auto g = gevent::spawn(std::move(fn));
  g->set_host(id_);
  g->set_name(name_);  // in reports and traces: the machine it runs on
  return g;
}

SimSocket* Host::bound_for_syn(const std::string& key) const {
  auto it = bound_.find(key);
  return it == bound_.end() ? nullptr : it->second;
}

// ---- Network

Network::Network(Hub* hub) : hub_(hub) {
  hub_->start(&watch_, /*ref=*/false);
  auto h = std::make_unique<Host>();
  h->net_ = this;
  h->id_ = 0;
  h->name_ = "localhost";
  h->ip_ = "10.0.0.1";
  hosts_.push_back(std::move(h));
}

Network::~Network() = default;

Network& Network::current() {
  Hub* hub = get_hub();
  auto* net = dynamic_cast<Network*>(hub->backend().network());
  if (net == nullptr) {
    throw std::logic_error(absl::StrCat("sim::Network::current(): the thread's hub is '",
                                        hub->backend_name(), "', not a simulator"));
  }
  return *net;
}

int64_t Network::NowNs() const { return hub_->backend().NowNs(); }

std::vector<std::string> Network::host_names() const {
  std::vector<std::string> names;
  for (const auto& h : hosts_) names.push_back(h->name());
  return names;
}

Host& Network::add_host(const std::string& name, std::function<void()> start,
                        const std::string& ip) {
  if (name.empty()) throw std::invalid_argument("add_host: empty host name");
  for (auto& h : hosts_) {
    if (h->name_ == name) {
      throw std::invalid_argument(absl::StrCat("add_host: a host named '", name,
                                               "' exists already"));
    }
  }
  std::string addr = ip;
  if (addr.empty()) {
    for (uint32_t n = static_cast<uint32_t>(hosts_.size()) + 1;; ++n) {
      addr = absl::StrCat("10.0.", n / 250, ".", n % 250 + (n / 250 == 0 ? 0 : 1));
      bool taken = false;
      for (auto& h : hosts_) taken |= h->ip_ == addr;
      if (!taken) break;
    }
  } else {
    Address parsed = Address::Ip(addr, 0);  // throws for a bad literal
    if (parsed.family() != AF_INET || IsLoopback(parsed)) {
      throw std::invalid_argument(absl::StrCat(
          "add_host: '", ip, "' is not a usable IPv4 host address"));
    }
    for (auto& h : hosts_) {
      if (h->ip_ == addr) {
        throw std::invalid_argument(absl::StrCat("add_host: address ", ip,
                                                 " belongs to host '", h->name_, "'"));
      }
    }
  }
  auto h = std::make_unique<Host>();
  h->net_ = this;
  h->id_ = static_cast<uint32_t>(hosts_.size());
  h->name_ = name;
  h->ip_ = addr;
  h->start_ = std::move(start);
  Host& ref = *h;
  hosts_.push_back(std::move(h));
  if (ref.start_) ref.spawn(ref.start_);
  return ref;
}

Host& Network::host(absl::string_view name) {
  std::vector<std::string> names;
  for (auto& h : hosts_) {
    if (h->name_ == name) return *h;
    names.push_back(h->name_);
  }
  throw std::invalid_argument(absl::StrCat("no simulated host named '", name,
                                           "' (hosts: ", absl::StrJoin(names, ", "), ")"));
}

Host& Network::current_host() {
  uint32_t id = getcurrent()->host();
  return id < hosts_.size() ? *hosts_[id] : *hosts_[0];
}

void Network::set_link(absl::string_view from, absl::string_view to, const LinkOptions& link) {
  if (link.latency < absl::ZeroDuration() || link.jitter < absl::ZeroDuration() ||
      !(link.loss >= 0 && link.loss <= 1) || !(link.duplicate >= 0 && link.duplicate <= 1)) {
    throw std::invalid_argument(
        "set_link: latency and jitter must be >= 0, loss and duplicate in [0, 1]");
  }
  links_[{host(from).id(), host(to).id()}] = link;
  Note(absl::StrCat("net: link ", from, " -> ", to, " latency ",
                    absl::FormatDuration(link.latency), " jitter ",
                    absl::FormatDuration(link.jitter), " loss ", link.loss, " duplicate ",
                    link.duplicate));
}

const LinkOptions& Network::Link(uint32_t from, uint32_t to) const {
  auto it = links_.find({from, to});
  if (it != links_.end()) return it->second;
  return from == to ? kLoopback : options_.link;
}

void Network::partition(const std::vector<std::string>& side_a,
                        const std::vector<std::string>& side_b) {
  partition_oneway(side_a, side_b);
  partition_oneway(side_b, side_a);
}

void Network::Note(const std::string& text) {
  RawGreenlet* g = hub_->current();
  hub_->EmitNote(g, g->id(), text.c_str());
}

void Network::partition_oneway(const std::vector<std::string>& from,
                               const std::vector<std::string>& to) {
  std::vector<uint32_t> a, b;
  for (const auto& n : from) a.push_back(host(n).id());
  for (const auto& n : to) b.push_back(host(n).id());
  Note(absl::StrCat("net: cut ", absl::StrJoin(from, ","), " -> ", absl::StrJoin(to, ",")));
  for (uint32_t x : a) {
    for (uint32_t y : b) {
      if (x != y) cut_.insert({x, y});
    }
  }
}

void Network::set_clock_skew(absl::string_view name, absl::Duration skew) {
  Host& h = host(name);
  h.skew_ns_ = absl::ToInt64Nanoseconds(skew);
  Note(absl::StrCat("net: clock skew ", h.name_, " ", absl::FormatDuration(skew)));
}

void Network::heal() {
  Note("net: heal");
  cut_.clear();
  std::vector<std::function<void()>> held = std::move(held_);
  held_.clear();
  for (auto& fn : held) fn();
}

bool Network::Cut(uint32_t from, uint32_t to) const {
  return !cut_.empty() && cut_.count({from, to}) != 0;
}

void Network::crash(absl::string_view name) {
  Host& h = host(name);
  if (!h.up_) return;
  Note(absl::StrCat("net: crash ", h.name_));
  h.up_ = false;
  std::vector<SimSocket*> victims;
  for (auto& [id, s] : sockets_) {
    if (s->host_id() == h.id_) victims.push_back(s);
  }
  for (SimSocket* s : victims) s->Crash();
  h.bound_.clear();
  const RawGreenlet* self = getcurrent();
  for (const RawGreenlet* g : hub_->blocked_greenlets()) {
    if (g->host() != h.id_ || g == self || g->kind() != RawGreenlet::Kind::kSpawned) continue;
    gevent::kill(const_cast<RawGreenlet*>(g)->shared_from_this());
  }
  if (self->host() == h.id_ && self->kind() == RawGreenlet::Kind::kSpawned) {
    throw GreenletExit();
  }
}

void Network::restart(absl::string_view name) {
  Host& h = host(name);
  if (h.up_) crash(name);
  Note(absl::StrCat("net: restart ", h.name_));
  h.up_ = true;
  if (h.start_) h.spawn(h.start_);
}

std::unique_ptr<SocketTransport> Network::Open(int family, SocketType type, int* error) {
  Host& h = current_host();
  if (!h.up_) {
    *error = ENETDOWN;
    return nullptr;
  }
  return std::make_unique<SimSocket>(this, h.id_, family, type);
}

std::vector<Address> Network::Resolve(const std::string& name, uint16_t port) {
  if (name == "localhost") return {Address::Ip("127.0.0.1", port)};
  std::vector<std::string> names;
  for (auto& h : hosts_) {
    if (h->name_ == name) return {Address::Ip(h->ip_, port)};
    names.push_back(h->name_);
  }
  throw std::system_error(EHOSTUNREACH, std::generic_category(),
                          absl::StrCat("resolve '", name, "': no simulated host of that name (hosts: ",
                                       absl::StrJoin(names, ", "), ")"));
}

int64_t Network::ArrivalNs(uint32_t from, uint32_t to) {
  if (Cut(from, to)) return -1;
  const LinkOptions& link = Link(from, to);
  int64_t when = NowNs() + absl::ToInt64Nanoseconds(link.latency);
  const int64_t jitter_us = absl::ToInt64Microseconds(link.jitter);
  if (jitter_us > 0) {
    when += static_cast<int64_t>(Choose(Decision::kNetDelay,
                                        static_cast<size_t>(jitter_us) + 1, from, to)) *
            1000;
  }
  return when;
}

Host* Network::HostOf(const Address& a, uint32_t from) {
  if (a.family() == AF_UNIX || IsLoopback(a)) return hosts_[from].get();
  if (a.family() != AF_INET) return nullptr;
  const std::string ip = a.host();
  for (auto& h : hosts_) {
    if (h->ip_ == ip) return h.get();
  }
  return nullptr;
}

void Network::Deliver(uint32_t from, uint32_t to, std::function<void()> fn,
                      int64_t not_before) {
  const int64_t when = ArrivalNs(from, to);
  if (when < 0) {
    AfterHeal([this, from, to, fn = std::move(fn)]() mutable {
      Deliver(from, to, std::move(fn));
    });
    return;
  }
  At(std::max(when, not_before), std::move(fn));
}

size_t Network::Choose(Decision d, size_t n, uint32_t from, uint32_t to) {
  if (n < 2 || !hub_->perturbs()) return 0;
  DecisionPoint point{d, n};
  point.from_host = from;
  point.to_host = to;
  return hub_->Decide(point);
}

bool Network::Roll(Decision d, double rate, uint32_t from, uint32_t to) {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  if (!hub_->perturbs()) return false;
  const size_t per_mille = static_cast<size_t>(std::lround(rate * 1000));
  return Choose(d, 1000, from, to) >= 1000 - per_mille;
}

void Network::Track(SimSocket* s) { sockets_[s->id_] = s; }
void Network::Untrack(SimSocket* s) { sockets_.erase(s->id_); }

void Network::At(int64_t when, std::function<void()> fn) {
  Event e;
  e.fn = std::move(fn);
  Push(when, std::move(e));
}

void Network::LandAt(int64_t when, std::shared_ptr<Conn> conn, int side) {
  Event e;
  e.conn = std::move(conn);
  e.side = side;
  Push(when, std::move(e));
}

void Network::Later(int64_t when, std::function<void()> fn) {
  ++live_later_;
  Event e;
  e.fn = std::move(fn);
  Push(when, std::move(e), /*later=*/true);
}

void Network::Push(int64_t when, Event event, bool later) {
  if (shutting_down_) return;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot] = std::move(event);
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::move(event));
  }
  (later ? later_ : queue_).push(Key{when, ++seq_, slot});
  Arm();
}

void Network::Arm() { UpdateRef(); }

std::priority_queue<Network::Key, std::vector<Network::Key>, std::greater<Network::Key>>*
Network::NextQueue() {
  if (queue_.empty()) return later_.empty() ? nullptr : &later_;
  if (later_.empty()) return &queue_;
  const Key& a = queue_.top();
  const Key& b = later_.top();
  return (b.when < a.when || (b.when == a.when && b.seq < a.seq)) ? &later_ : &queue_;
}

void Network::UpdateRef() {
  const bool want = waiting_ > 0 && (!queue_.empty() || live_later_ > 0) && !shutting_down_;
  if (want == holding_ref_) return;
  holding_ref_ = want;
  if (want) {
    hub_->ref_local();
  } else {
    hub_->unref_local();
  }
}

void Network::Watch::Fire(IoWatcher* w, uint32_t) { static_cast<Watch*>(w)->net->RunDue(); }

void Network::RunDue() {
  const int64_t now = NowNs();
  while (!shutting_down_) {
    auto* q = NextQueue();
    if (q == nullptr || q->top().when > now) break;
    const uint32_t slot = q->top().slot;
    q->pop();
    Event e = std::move(slots_[slot]);
    free_slots_.push_back(slot);
    if (e.conn != nullptr) {
      LandSegments(this, e.conn, e.side);
    } else {
      e.fn();
    }
  }
  Arm();
}

void Network::Shutdown() {
  shutting_down_ = true;
  OrphanAll();
  while (!queue_.empty()) queue_.pop();
  while (!later_.empty()) later_.pop();
  slots_.clear();
  free_slots_.clear();
  held_.clear();
  hub_->stop(&watch_);
  UpdateRef();
}

}  // namespace sim
}  // namespace gevent
