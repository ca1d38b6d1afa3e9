// Waitable: the one wait protocol shared by greenlets and every primitive.
//
// Anything that can "become ready" (a Greenlet when it dies, an Event when it
// is set, an AsyncResult when it gets a value, a Semaphore when it can be
// acquired, ...) is a Waitable. Waiting on it means linking a callback with
// rawlink(); when the object becomes ready the hub calls the links, in the
// order they were added, each exactly once and then unlinked. This is what
// lets wait(), iwait() and joinall() take any mix of objects.
//
// Links run in the hub greenlet, so they must not block; a link typically
// resumes a waiting greenlet (which runs at once, until it blocks again).
#ifndef GEVENTPP_RUNTIME_WAITABLE_H_
#define GEVENTPP_RUNTIME_WAITABLE_H_

#include <cstdint>
#include <functional>

#include "absl/base/optimization.h"
#include "runtime/hub.h"
#include "runtime/internal/intrusive_list.h"

namespace gevent {

class Waitable;

// An intrusive link, owned by the caller (no allocation). Its destructor
// unlinks it.
class Link : private internal::ListNode {
 public:
  using Fn = void (*)(Link*, Waitable*);
  explicit Link(Fn fn) : fn_(fn) {}
  ~Link();  // inline, below
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  // True while linked to a source that has not yet notified it.
  bool linked() const { return source_ != nullptr; }
  // What the link does when notified: resume the greenlet that waits with
  // it (internal::ResumeLink, which a greenlet may run in place: the
  // hand-off), or anything else.
  enum class Kind : uint8_t { kResumeGreenlet, kOther };
  Kind kind() const;  // inline, below

 private:
  friend class Waitable;
  friend class Hub;
  friend class internal::IntrusiveList<Link>;
  Fn fn_;
  Waitable* source_ = nullptr;
  uint64_t id_ = 0;  // non-zero for links made by rawlink(std::function)
};

// Identifies a link made with rawlink(std::function) for unlink().
using LinkId = uint64_t;

class Waitable {
 public:
  virtual ~Waitable();
  Waitable(const Waitable&) = delete;
  Waitable& operator=(const Waitable&) = delete;

  // True if waiting on the object would return at once.
  virtual bool ready() const = 0;

  // Calls `fn(*this)` in the hub once the object is ready (soon, through the
  // hub, if it already is). Returns an id for unlink().
  LinkId rawlink(std::function<void(Waitable&)> fn);
  // Removes a link that has not run yet. Returns false if there was none.
  bool unlink(LinkId id);
  // The same for intrusive links.
  void rawlink(Link* link) {
    LinkNotReady(link);
    if (ready()) notify_links();
  }
  void unlink(Link* link) {
    if (link->source_ != this) return;
    if (link == pass_last_) PassLastUnlinked();
    links_.remove(link);
    link->source_ = nullptr;
  }
  // Number of links waiting for notification.
  size_t link_count() const { return links_.size(); }

  Hub* hub() const { return hub_; }

 protected:
  explicit Waitable(Hub* hub);
  // Call when the object became ready: the links will be notified in the hub,
  // in FIFO order. During a notification pass it does nothing: the pass
  // itself goes on (see RunPass).
  void notify_links() {
    if (links_.empty() || notifier_.pending()) return;
    if (alive_during_notify_ != nullptr) {
      pass_renotify_ = true;  // looked at when the pass ends
      return;
    }
    on_notify_scheduled();
    hub_->run_callback(&notifier_);
  }
  // rawlink() for a caller that knows the object is not ready (a primitive
  // about to block): links without asking ready().
  void LinkNotReady(Link* link) {
    if (link->source_ != nullptr) link->source_->unlink(link);
    link->source_ = this;
    links_.push_back(link);
  }
  // Whether a notification pass should go on to the next link. The default:
  // while the object is still ready.
  virtual bool keep_notifying() const { return ready(); }
  // Hooks around a notification pass, run in the hub.
  virtual void on_notify_scheduled() {}
  virtual void on_links_notified() {}
  // True: a notification pass also notifies the links linked during it
  // (a greenlet's), instead of leaving them to the next pass.
  bool pass_includes_late_links_ = false;

 private:
  friend class Hub;
  struct Notifier : Callback {
    Notifier() : Callback(&Run, &Discard) {}
    Waitable* owner = nullptr;
  };
  static void Run(Callback* cb);
  // The notification pass itself; `alive` turns false if a link destroys
  // the object.
  static void RunPass(Waitable* self, bool* alive);
  static void Discard(Callback* cb);

  // ---- The notification pass, as RunPass and the hand-off drive it ----
  // The object whose pass `cb` starts, if `cb` is a Waitable's notifier.
  static Waitable* NotifiedBy(Callback* cb) {
    return cb->fn_ == &Run ? static_cast<Notifier*>(cb)->owner : nullptr;
  }
  // True if the next link to notify (if any) resumes a greenlet: a greenlet
  // may then run that step in place.
  bool NextLinkResumes() const {
    const Link* front = links_.front();
    return front == nullptr || front->kind() == Link::Kind::kResumeGreenlet;
  }
  bool pass_over() const { return pass_over_; }
  // `alive` turns false if the object is destroyed before the pass ends.
  void WatchPass(bool* alive) { alive_during_notify_ = alive; }
  // A pass notifies, in order, the links that were linked when it began,
  // while keep_notifying() holds, as gevent's AbstractLinkable does (its
  // final link): links added during a pass wait for the next one (unless
  // pass_includes_late_links_). If links are left and the object is ready
  // when the pass ends, the next pass is a new callback at the back of the
  // FIFO.
  void BeginPass() {
    pass_last_ = pass_includes_late_links_ ? nullptr : links_.back();
    pass_over_ = !pass_includes_late_links_ && pass_last_ == nullptr;
    pass_renotify_ = false;
  }
  // Unlinks the next link of the pass, or returns nullptr: the pass is over.
  Link* NextPassLink() {
    if (pass_over_ || !keep_notifying()) return nullptr;
    Link* l = links_.pop_front();
    if (l == pass_last_) {
      pass_last_ = nullptr;
      pass_over_ = true;
    }
    return l;
  }
  // The pass's last link is being unlinked: the one before it is the last.
  void PassLastUnlinked();
  // After the pass: the next pass, or on_links_notified() (which may
  // destroy the object: nothing may follow).
  void EndPass() {
    alive_during_notify_ = nullptr;
    pass_last_ = nullptr;
    pass_over_ = false;
    if (ABSL_PREDICT_FALSE(pass_renotify_)) {
      pass_renotify_ = false;
      if (!links_.empty() && ready() && !hub_->destroyed()) {
        // Linked during the pass: their turn comes after what is queued
        // now. (Whatever keeps the object alive for its notifications
        // stays.)
        hub_->run_callback(&notifier_);
        return;
      }
    }
    on_links_notified();  // may destroy the object: nothing may follow
  }

  Hub* hub_;
  internal::IntrusiveList<Link> links_;
  Notifier notifier_;
  uint64_t next_link_id_ = 0;
  // Non-null while a notification pass is in progress (from its start until
  // it ends, also while it waits to go on in the hub: PassContinuation).
  bool* alive_during_notify_ = nullptr;
  Link* pass_last_ = nullptr;  // the pass's last link, until notified
  bool pass_over_ = false;     // the pass's last link was notified
  // notify_links() was called during the pass (every change to ready calls
  // it): if links are left, the object may be ready for them.
  bool pass_renotify_ = false;
};

inline Link::~Link() {
  if (source_ != nullptr) source_->unlink(this);
}

namespace internal {
// A link that resumes a greenlet blocked in Hub::wait() (if it still is),
// and does nothing else. A greenlet that waits with one needs no Waiter:
// the wait ends by this link or by an exception thrown in, after which the
// link's destructor unlinks it. The hub recognises these links: when the
// greenlet it resumed blocks, the rest of the pass can run in place (the
// hand-off, hand_off.cc).
struct ResumeLink : Link {
  explicit ResumeLink(RawGreenlet* g) : Link(&Fire), greenlet(g) {}
  static void Fire(Link* l, Waitable* source);
  RawGreenlet* greenlet;
};
}  // namespace internal

inline Link::Kind Link::kind() const {
  return fn_ == &internal::ResumeLink::Fire ? Kind::kResumeGreenlet : Kind::kOther;
}

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_WAITABLE_H_
