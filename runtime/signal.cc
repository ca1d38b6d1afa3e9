#include "runtime/signal.h"

#include <stdexcept>

#include "runtime/exceptions.h"
#include "runtime/raw_greenlet.h"

namespace gevent {

SignalHandler::SignalHandler(int signum, std::function<void()> handler)
    : watcher_(signum), handler_(std::move(handler)), hub_(get_hub()) {
  watcher_.owner = this;
  hub_->start(&watcher_);
}

SignalHandler::~SignalHandler() { cancel(); }

void SignalHandler::cancel() {
  if (watcher_.active()) hub_->stop(&watcher_);
}

void SignalHandler::Watcher::Fire(SignalWatcher* w) {
  SignalHandler* self = static_cast<Watcher*>(w)->owner;
  Hub* hub = self->hub_;
  std::function<void()> handler = self->handler_;
  internal::RunInNewGreenlet(hub, [hub, handler] {
    try {
      handler();
    } catch (const GreenletExit&) {
      throw;
    } catch (...) {
      // Raised in the main greenlet, as gevent does.
      std::exception_ptr error = std::current_exception();
      hub->run_callback([hub, error] { hub->resume(hub->main_greenlet(), error); });
    }
  });
}

std::unique_ptr<SignalHandler> signal_handler(int signum,
                                              std::function<void()> handler) {
  if (!handler) throw std::invalid_argument("signal_handler: the handler is empty");
  return std::unique_ptr<SignalHandler>(new SignalHandler(signum, std::move(handler)));
}

}  // namespace gevent
