// NetworkObserver: what a network tells an observer about each socket call
// that crosses the process boundary (a trace recorder records them, so that
// a run that did network I/O can be replayed without a network).
//
// A NetworkBackend (socket_transport.h) that supports observers reports,
// for each socket opened while an observer is set (and each connection such
// a socket accepts), every transport call and its result, in the order the
// calls were made, from the hub's thread: the same calls a replay must
// answer to run the program again. What a call's bytes are is passed, not
// kept: the observer decides what to store (a recorder's payload policy).
// Sockets opened before the observer was set are not reported; the cost for
// them stays that of an unobserved socket. Name resolution is reported too
// (kResolve), where the greenlet that asked gets its answer.
#ifndef GEVENTPP_RUNTIME_NETWORK_OBSERVER_H_
#define GEVENTPP_RUNTIME_NETWORK_OBSERVER_H_

#include <cstddef>
#include <cstdint>

#include "runtime/address.h"

namespace gevent {

// The transport calls (SocketTransport's virtuals). The numbers are not a
// file format: a recorder maps them to its own.
enum class NetOp : uint8_t {
  kOpen = 0,       // arg: family, arg2: SocketType; result: fd or -errno
  kBind = 1,       // address; result 0 or -errno
  kListen = 2,     // arg: backlog
  kConnect = 3,    // address; 0, -EINPROGRESS or -errno
  kConnectResult = 4,
  kAccept = 5,     // result 0 (new_fd, address: the peer) or -errno
  kRecv = 6,       // arg: bytes asked; result: count or -errno; data: the bytes
  kPeek = 7,       // likewise, with MSG_PEEK
  kSend = 8,       // arg: bytes offered; result: count taken; data: those bytes
  kSendTo = 9,     // likewise, to address
  kRecvFrom = 10,  // like kRecv; address: the sender
  kShutdown = 11,  // arg: how
  kSetOption = 12, // arg: SocketOption, arg2: the value
  kGetOption = 13, // arg: SocketOption, arg2: the value read
  kLocalAddress = 14,  // address: the answer
  kPeerAddress = 15,   // address: the answer
  kClose = 16,     // the endpoint was released (result 0)
  kResolve = 17,   // a name resolved (fd -1; data: the host; arg: the port);
                   // result: how many addresses (addresses), or -errno
                   // (message: the error's)
  kLastOp = kResolve,
};
// "open", "recv", "connect-result", ...
const char* NetOpName(NetOp op);

struct NetCall {
  NetOp op = NetOp::kOpen;
  int fd = -1;           // the socket's descriptor (kOpen: the new one, or -1)
  int64_t result = 0;    // what the call returned: >= 0, or -errno
  int64_t arg = 0;       // see NetOp
  int64_t arg2 = 0;      // see NetOp
  // kRecv/kPeek/kRecvFrom: the bytes received (result of them); kSend and
  // kSendTo: the bytes the network took (result of them). Valid during the
  // call only.
  const void* data = nullptr;
  size_t size = 0;
  const Address* address = nullptr;  // see NetOp; nullptr: none
  int new_fd = -1;                   // kAccept: the connection's descriptor
  // kResolve: the addresses the name resolved to, or the failure's message
  // (valid during the call only).
  struct Resolved {
    const Address* addresses = nullptr;
    size_t count = 0;
    const char* message = nullptr;  // when result < 0
  };
  const Resolved* resolved = nullptr;
  // The program marked this connection's bytes private
  // (Socket::set_bytes_private): an observer keeps none of them.
  bool bytes_private = false;
};

class NetworkObserver {
 public:
  virtual void OnNetCall(const NetCall& call) = 0;

 protected:
  ~NetworkObserver() = default;
};

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_NETWORK_OBSERVER_H_
