#include "runtime/socket_transport.h"

#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "runtime/internal/waiter.h"

namespace gevent {

const char* SocketOptionName(SocketOption option) {
  switch (option) {
    case SocketOption::kTcpNoDelay: return "TCP_NODELAY";
    case SocketOption::kReuseAddr: return "SO_REUSEADDR";
    case SocketOption::kReusePort: return "SO_REUSEPORT";
    case SocketOption::kKeepAlive: return "SO_KEEPALIVE";
    case SocketOption::kSendBuffer: return "SO_SNDBUF";
    case SocketOption::kRecvBuffer: return "SO_RCVBUF";
    case SocketOption::kBroadcast: return "SO_BROADCAST";
  }
  return "?";
}

const char* NetOpName(NetOp op) {
  switch (op) {
    case NetOp::kOpen: return "open";
    case NetOp::kBind: return "bind";
    case NetOp::kListen: return "listen";
    case NetOp::kConnect: return "connect";
    case NetOp::kConnectResult: return "connect-result";
    case NetOp::kAccept: return "accept";
    case NetOp::kRecv: return "recv";
    case NetOp::kPeek: return "peek";
    case NetOp::kSend: return "send";
    case NetOp::kSendTo: return "sendto";
    case NetOp::kRecvFrom: return "recvfrom";
    case NetOp::kShutdown: return "shutdown";
    case NetOp::kSetOption: return "setsockopt";
    case NetOp::kGetOption: return "getsockopt";
    case NetOp::kLocalAddress: return "local-address";
    case NetOp::kPeerAddress: return "peer-address";
    case NetOp::kClose: return "close";
    case NetOp::kResolve: return "resolve";
  }
  return "?";
}

// What a waiting greenlet keeps on its stack: the waiter, the callback that
// wakes it from greenlet context, and whether the socket was closed.
struct SocketTransport::ReadyWait {
  explicit ReadyWait(Hub* hub) : waiter(hub), wake(&waiter) {}
  internal::Waiter waiter;
  internal::Waiter::WakeCallback wake;
  bool closed = false;
};

namespace {

// Wakes `w`: at once from the hub, or through the FIFO from a greenlet
// (only the hub may resume a greenlet).
void Wake(Hub* hub, internal::Waiter* waiter, Callback* wake) {
  if (hub->in_hub()) {
    waiter->wake();
  } else {
    hub->run_callback(wake);
  }
}

}  // namespace

SocketTransport::WaitResult SocketTransport::WaitReady(uint32_t direction,
                                                       absl::Time deadline,
                                                       const char* what) {
  const int slot = direction == kWrite ? 1 : 0;
  if (waiters_[slot] != nullptr) {
    throw ConcurrentObjectUseError(absl::StrCat(
        "this socket is already being ", slot == 0 ? "read" : "written",
        " by another greenlet (", waiters_[slot]->waiter.greenlet()->name(), ")"));
  }
  ReadyWait wait(hub_);
  absl::Duration timeout = absl::InfiniteDuration();
  if (deadline != absl::InfiniteFuture()) {
    timeout = deadline - hub_->now();
    if (timeout <= absl::ZeroDuration()) return WaitResult::kTimedOut;
  }
  waiters_[slot] = &wait;
  struct Cleanup {
    SocketTransport* t;
    ReadyWait* w;
    int slot;
    bool ref;
    Hub* hub;
    WaitTracker* tracker;
    ~Cleanup() {
      // The transport is gone once closed: touch nothing of it then.
      if (!w->closed && t->waiters_[slot] == w) t->waiters_[slot] = nullptr;
      if (ref) hub->unref_local();
      if (tracker != nullptr) tracker->WaitEnds();
      w->waiter.greenlet()->set_blocked_on(nullptr);
    }
  } cleanup{this, &wait, slot, waits_keep_loop_alive_, hub_, wait_tracker_};
  if (waits_keep_loop_alive_) hub_->ref_local();
  if (wait_tracker_ != nullptr) wait_tracker_->WaitBegins();
  wait.waiter.greenlet()->set_blocked_on(this);
  const bool woken = wait.waiter.wait(what, timeout);
  if (wait.closed) return WaitResult::kClosed;
  return woken ? WaitResult::kReady : WaitResult::kTimedOut;
}

void SocketTransport::NotifyReady(uint32_t events) {
  // Take both waiters first: a woken greenlet runs at once (from the hub)
  // and may close and destroy this transport.
  ReadyWait* woken[2] = {nullptr, nullptr};
  for (int slot = 0; slot < 2; ++slot) {
    if (!(events & (slot == 0 ? kRead : kWrite))) continue;
    woken[slot] = waiters_[slot];
    waiters_[slot] = nullptr;
  }
  Hub* hub = hub_;
  for (ReadyWait* w : woken) {
    if (w != nullptr) Wake(hub, &w->waiter, &w->wake);
  }
}

void SocketTransport::WakeAllForClose() {
  closed_ = true;
  ReadyWait* woken[2] = {waiters_[0], waiters_[1]};
  waiters_[0] = waiters_[1] = nullptr;
  Hub* hub = hub_;
  for (ReadyWait* w : woken) {
    if (w == nullptr) continue;
    w->closed = true;
    w->waiter.greenlet()->set_blocked_on(nullptr);
    Wake(hub, &w->waiter, &w->wake);
  }
}

std::string SocketTransport::describe() const { return Describe(); }

void NetworkBackend::OrphanAll() {
  std::vector<SocketTransport*> open(open_.begin(), open_.end());
  open_.clear();  // orphans do not unregister (this network may be gone)
  for (SocketTransport* t : open) {
    if (t->orphaned_) continue;
    t->WakeAllForClose();
    t->Close();
    t->orphaned_ = true;
  }
}

}  // namespace gevent
