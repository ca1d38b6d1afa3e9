// The simulated network: the same Socket code (runtime/socket.h) that runs
// on epoll runs here against in-memory hosts, with latency, partitions and
// crashes decided by the seed or triggered by the test.
//
// example-prelude: void RunServer();
//   gevent::sim::Simulation sim(/*seed=*/42);
//   auto& net = gevent::sim::Network::current();
//   auto& server = net.add_host("server", [] { RunServer(); });  // 10.0.0.2
//   auto& client = net.add_host("client");                       // 10.0.0.3
//   client.spawn([] { gevent::create_connection("server:7000").sendall("hi"); });
//   sim.run_for(absl::Seconds(10));
//   net.partition({"client"}, {"server"});   // cut, both ways
//   net.heal();
//   net.crash("server");                     // greenlets killed, peers reset
//   net.restart("server");                   // its start function runs again
//
// A program that declares no hosts runs on the default host ("localhost",
// 10.0.0.1); every host reaches itself on 127.0.0.1 and ::1, and the others
// by their address or name (resolve() and create_connection() know them).
//
// The model (docs/network.md):
// - Stream (TCP) connections are ordered and reliable byte streams. A send
//   takes what fits in the connection's buffer (NetworkOptions::buffer
//   bytes in flight and unread per direction) and may be cut by the seed
//   into several deliveries, so a recv may return fewer bytes. Connecting to
//   a port nobody listens on is refused (ECONNREFUSED after one round
//   trip); a full backlog drops the SYN, which is retried (1 s, doubling);
//   a host that does not answer times out (ETIMEDOUT after
//   connect_timeout). Close sends FIN (the peer reads end of stream), or RST
//   if unread data was left (the peer gets ECONNRESET, then EPIPE on send).
// - Datagrams (UDP) may be lost, duplicated and reordered, each by the seed,
//   at the link's rates.
// - Each message takes its link's latency plus a seeded jitter. A partition
//   holds stream data and SYNs until it heals (TCP retransmits) and drops
//   datagrams.
// - crash(host) kills the host's greenlets and resets its connections;
//   restart(host) runs its start function again in a new greenlet.
// Every choice goes through the hub's decision points (kNetDelay,
// kNetSplit, kNetLoss, kNetDuplicate), so traces record it, replay
// reproduces it and the explorer can drive it. Seed 0 takes none: base
// latency, whole sends, no loss.
#ifndef GEVENTPP_SIM_NETWORK_H_
#define GEVENTPP_SIM_NETWORK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/greenlet.h"
#include "runtime/hub.h"
#include "runtime/nanos.h"
#include "runtime/socket_transport.h"

namespace gevent {
namespace sim {

// One direction of a link between two hosts.
struct LinkOptions {
  // The one-way latency every message takes...
  absl::Duration latency = absl::Microseconds(100);
  // ...plus up to this much more, chosen by the seed per message.
  absl::Duration jitter = absl::Microseconds(100);
  // Datagram loss and duplication rates, in [0, 1].
  double loss = 0;
  double duplicate = 0;
};

struct NetworkOptions {
  // Every link's options, unless set_link() says otherwise.
  LinkOptions link;
  // Bytes a stream direction holds (in flight plus unread) before send
  // blocks.
  size_t buffer = 256 * 1024;
  // Whether the seed may cut a stream send into up to 4 deliveries.
  bool split_sends = true;
  // How long an unanswered connect tries (Linux: about 127 s).
  absl::Duration connect_timeout = absl::Seconds(127);
  // Datagrams a socket holds unread before it drops new ones.
  size_t datagram_queue = 256;
};

class Network;
class SimSocket;
struct Conn;

class Host {
 public:
  uint32_t id() const { return id_; }
  const std::string& name() const { return name_; }
  // Its IPv4 address ("10.0.0.2").
  const std::string& ip() const { return ip_; }
  bool up() const { return up_; }
  // Runs `fn` in a new greenlet on this host, named after the host
  // (greenlets it spawns are on this host too).
  std::shared_ptr<Greenlet<void>> spawn(std::function<void()> fn);
  // The socket bound to `key` ("tcp:80", "udp:53", "unix:/p"), or nullptr.
  SimSocket* bound_for_syn(const std::string& key) const;

 private:
  friend class Network;
  friend class SimSocket;
  Network* net_ = nullptr;
  uint32_t id_ = 0;
  std::string name_;
  std::string ip_;
  std::function<void()> start_;
  bool up_ = true;
  int64_t skew_ns_ = 0;
  uint32_t next_port_ = 49152;
  // Bound endpoints: "tcp:80", "udp:53", "unix:/path".
  std::map<std::string, SimSocket*> bound_;
};

class Network final : public NetworkBackend, public WaitTracker {
 public:
  explicit Network(Hub* hub);
  ~Network() override;

  // The network of the current thread's hub. Throws std::logic_error if
  // that hub is not a simulator's.
  static Network& current();

  void set_options(const NetworkOptions& options) { options_ = options; }
  const NetworkOptions& options() const { return options_; }

  // Adds a host named `name` (also resolvable by that name) with the next
  // free address 10.0.0.N, or `ip` if given. `start`, if given, runs now in
  // a greenlet on the host, and again at each restart(). Throws
  // std::invalid_argument for a name or address already taken.
  Host& add_host(const std::string& name, std::function<void()> start = {},
                 const std::string& ip = "");
  // The host named `name`; throws std::invalid_argument naming it if none.
  Host& host(absl::string_view name);
  Host& default_host() { return *hosts_[0]; }
  // Every host's name, by id.
  std::vector<std::string> host_names() const;
  // The host the current greenlet runs on.
  Host& current_host();

  // Options for the link from `from` to `to` (one direction).
  void set_link(absl::string_view from, absl::string_view to, const LinkOptions& link);
  // Cuts every link between a host of `side_a` and one of `side_b`, both
  // ways (partition_oneway: from `side_a` to `side_b` only). Stream data
  // and SYNs wait for heal(); datagrams are lost.
  void partition(const std::vector<std::string>& side_a,
                 const std::vector<std::string>& side_b);
  void partition_oneway(const std::vector<std::string>& from,
                        const std::vector<std::string>& to);
  // Restores every cut link and sends what waited.
  void heal();
  // Kills every greenlet of `host` and resets its connections (its peers
  // get ECONNRESET); its listeners and bound ports are gone.
  void crash(absl::string_view host);
  // Brings a crashed host back and runs its start function again.
  void restart(absl::string_view host);

  // Sets how far `host`'s clock is off: gevent::now() (runtime/clock.h) on
  // that host reads the virtual time plus `skew` (negative: behind).
  // Timers are not affected.
  void set_clock_skew(absl::string_view host, absl::Duration skew);
  int64_t ClockSkewNs(uint32_t host) const {
    return host < hosts_.size() ? hosts_[host]->skew_ns_ : 0;
  }

  // Messages (stream segments and datagrams) delivered so far.
  uint64_t delivered() const { return delivered_; }

  // ---- WaitTracker: deliveries keep the loop alive only while a greenlet
  // waits on a simulated socket; with nobody waiting, messages still in
  // flight do not (a program may end with a FIN on the wire). ----
  void WaitBegins() override {
    ++waiting_;
    UpdateRef();
  }
  void WaitEnds() override {
    --waiting_;
    UpdateRef();
  }

  // ---- NetworkBackend ----
  std::unique_ptr<SocketTransport> Open(int family, SocketType type, int* error) override;
  std::vector<Address> Resolve(const std::string& host, uint16_t port) override;

  // ---- for the simulated backend ----
  // The descriptor number the network's deliveries are reported on.
  static constexpr int kFd = 0x7fffffff;
  // When the next delivery is due (ns), or kNanosFuture.
  int64_t NextEventNs() const {
    int64_t next = queue_.empty() ? kNanosFuture : queue_.top().when;
    if (!later_.empty() && later_.top().when < next) next = later_.top().when;
    return next;
  }

  // ---- for SimSocket ----
  Hub* hub() const { return hub_; }
  Host& host_at(uint32_t id) { return *hosts_[id]; }
  const LinkOptions& Link(uint32_t from, uint32_t to) const;
  int64_t NowNs() const;
  // Runs `fn` where a message sent now from `from` to `to` lands, not
  // before `not_before` (ns); a cut link holds it until heal().
  void Deliver(uint32_t from, uint32_t to, std::function<void()> fn,
               int64_t not_before = 0);
  // The hub is going away: orphans the open sockets, drops what is queued.
  void Shutdown();
  // When a message sent now from `from` to `to` lands (ns), or -1 if the
  // link is cut.
  int64_t ArrivalNs(uint32_t from, uint32_t to);
  bool Cut(uint32_t from, uint32_t to) const;
  // The host an address names, seen from `from` (127.0.0.1 and ::1: itself),
  // or nullptr.
  Host* HostOf(const Address& a, uint32_t from);
  // Runs `fn` at `when_ns` (events at the same time run in the order they
  // were scheduled).
  void At(int64_t when_ns, std::function<void()> fn);
  // The same for an event far ahead that usually comes to nothing (a
  // connect's timeout): kept apart, so that the deliveries' queue stays
  // small. Until LaterMoot() says it came to nothing, it keeps the loop
  // alive as deliveries do.
  void Later(int64_t when_ns, std::function<void()> fn);
  void LaterMoot() {
    --live_later_;
    UpdateRef();
  }
  // Lands the segments of `conn`'s direction `side` that are due, at
  // `when_ns`.
  void LandAt(int64_t when_ns, std::shared_ptr<Conn> conn, int side);
  // Runs `fn` once every cut link is healed.
  void AfterHeal(std::function<void()> fn) { held_.push_back(std::move(fn)); }
  // A seeded choice among `n` options (0 when the seed perturbs nothing),
  // about a message from host `from` to host `to`.
  size_t Choose(Decision d, size_t n, uint32_t from, uint32_t to);
  // A seeded yes/no with probability `rate` (kNetLoss / kNetDuplicate).
  bool Roll(Decision d, double rate, uint32_t from, uint32_t to);
  uint64_t NextSocketId() { return ++socket_seq_; }
  void Track(SimSocket* s);
  void Untrack(SimSocket* s);
  void CountDelivery() { ++delivered_; }

 private:
  // The queue orders small keys; what runs lives in slots_ (reused), so
  // heap moves never touch a std::function.
  struct Key {
    int64_t when;
    uint64_t seq;
    uint32_t slot;
    bool operator>(const Key& o) const {
      return when != o.when ? when > o.when : seq > o.seq;
    }
  };
  struct Event {
    // A stream's segments landing (the common case), or any function.
    std::shared_ptr<Conn> conn;
    int side = 0;
    std::function<void()> fn;
  };
  // The hub delivers the network's due events as readiness of kFd, which
  // the simulated backend reports when the virtual clock reaches them
  // (SimBackend::WaitForEvents); no hub timer per delivery.
  struct Watch : IoWatcher {
    explicit Watch(Network* n) : IoWatcher(kFd, kRead, &Fire), net(n) {}
    static void Fire(IoWatcher* w, uint32_t revents);
    Network* net;
  };
  void Push(int64_t when, Event event, bool later = false);
  // The queue whose top runs next (nullptr: both empty).
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>>* NextQueue();
  void UpdateRef();
  // Reports a fault to the hub's observers (traces record it as a note).
  void Note(const std::string& text);
  void Arm();
  void RunDue();

  Hub* hub_;
  NetworkOptions options_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::map<std::pair<uint32_t, uint32_t>, LinkOptions> links_;
  std::set<std::pair<uint32_t, uint32_t>> cut_;
  std::vector<std::function<void()>> held_;
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> queue_;
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> later_;
  std::vector<Event> slots_;
  std::vector<uint32_t> free_slots_;
  uint64_t seq_ = 0;
  Watch watch_{this};
  uint64_t socket_seq_ = 0;
  // Open sockets by creation order (crash() resets them in that order).
  std::map<uint64_t, SimSocket*> sockets_;
  uint64_t delivered_ = 0;
  bool shutting_down_ = false;
  int waiting_ = 0;          // greenlets waiting on simulated sockets
  int live_later_ = 0;       // Later() events not yet moot
  bool holding_ref_ = false;  // a hub ref: someone waits, and deliveries are due
};

}  // namespace sim
}  // namespace gevent

#endif  // GEVENTPP_SIM_NETWORK_H_
