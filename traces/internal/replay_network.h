// The network of a replay: sockets whose every call returns what an epoll
// trace recorded (NetCall records), on the simulator, with no descriptor
// opened and no byte sent. The Replayer (traces/replay.h) owns it and
// installs it on its SimHub (SimHub::set_replay_network); the readiness of
// its sockets comes from the trace's Io records, through the replayer.
#ifndef GEVENTPP_TRACES_INTERNAL_REPLAY_NETWORK_H_
#define GEVENTPP_TRACES_INTERNAL_REPLAY_NETWORK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/network_observer.h"
#include "runtime/socket_transport.h"
#include "runtime/threadpool.h"
#include "traces/event.h"

namespace gevent {
namespace trace {

class Replayer;

namespace internal {

class ReplaySocket;

class ReplayNetwork final : public NetworkBackend {
 public:
  ReplayNetwork(Replayer* replayer, Hub* hub) : replayer_(replayer), hub_(hub) {}
  ~ReplayNetwork() override;

  std::unique_ptr<SocketTransport> Open(int family, SocketType type, int* error) override;
  // The recorded answer (or error), which comes back from a thread pool as
  // on epoll, at the point the trace took it.
  std::vector<Address> Resolve(const std::string& host, uint16_t port) override;

  // The replay stopped (a divergence, or the end of the trace): every
  // socket's waiters wake, and every call fails with EIO from now on.
  void Stop();
  bool stopped() const;

  // What a call gets from the trace: the next record, if it is this call
  // (op, descriptor, what was asked and, for sends, the bytes), else
  // nullptr after reporting the divergence. `sent`: the bytes a send offers.
  // `name`: the host a resolve asks for.
  bool Take(NetOp op, int fd, int64_t arg, int64_t arg2, const Address* address,
            const void* sent, Event* out, const std::string* name = nullptr);
  // A recv got `have` of the `need` bytes it returns from the trace (the
  // payload policy kept fewer): said once per descriptor, and counted.
  void MissingBytes(int fd, int64_t need, size_t have);
  uint64_t calls_missing_bytes() const { return calls_missing_bytes_; }
  // "" or a line saying which calls lacked their bytes.
  std::string MissingBytesNote() const;

  Hub* hub() const { return hub_; }
  void Add(int fd, ReplaySocket* s) { sockets_[fd] = s; }
  void Remove(int fd, ReplaySocket* s) {
    auto it = sockets_.find(fd);
    if (it != sockets_.end() && it->second == s) sockets_.erase(it);
  }

 private:
  Replayer* replayer_;
  Hub* hub_;
  std::map<int, ReplaySocket*> sockets_;  // by descriptor (ordered: wake order)
  std::unique_ptr<ThreadPool> resolver_;  // made on first use, as on epoll
  uint64_t calls_missing_bytes_ = 0;
  uint64_t bytes_missing_ = 0;
  std::string first_missing_;
};

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_REPLAY_NETWORK_H_
