// wait, iwait, joinall, killall: waiting on several objects at once.
//
// Every function here takes any container of pointer-like elements
// (std::shared_ptr<Greenlet<T>>, Event*, ...) whose pointees are Waitables,
// and returns elements of the same type, so a vector of greenlets comes back
// as a vector of greenlets.
#ifndef GEVENTPP_RUNTIME_WAIT_H_
#define GEVENTPP_RUNTIME_WAIT_H_

#include <algorithm>
#include <cstddef>
#include <exception>
#include <iterator>
#include <limits>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "runtime/greenlet.h"
#include "runtime/hub.h"
#include "runtime/waitable.h"

namespace gevent {

// "As many as there are".
inline constexpr size_t kAll = std::numeric_limits<size_t>::max();

namespace internal {

// The engine behind wait/iwait/joinall: links to every object and hands out
// their indexes in the order they become ready. It links straight to the
// elements (no list of the objects is built to be handed over), one link
// (48 bytes) per object, which also queues it when ready.
template <typename P>
Waitable* AsWaitable(const P& p) {
  return static_cast<Waitable*>(&*p);
}

class WaitSet {
 public:
  // `elements` are pointer-likes to Waitables, and must outlive the set.
  template <typename E>
  WaitSet(const std::vector<E>& elements, absl::Duration timeout, size_t count)
      : WaitSet(elements.size(), count) {
    for (size_t i = 0; i < elements.size(); ++i) {
      Add(i, AsWaitable(elements[i]));
    }
    Start(timeout);
  }
  ~WaitSet();
  WaitSet(const WaitSet&) = delete;
  WaitSet& operator=(const WaitSet&) = delete;
  // Blocks for the next ready object; returns its index, or -1 once `count`
  // were returned, all were returned, or the timeout expired.
  std::ptrdiff_t Next();

 private:
  WaitSet(size_t n, size_t count);
  // Links to object `i` (in index order), then starts the timeout.
  void Add(size_t i, Waitable* object);
  void Start(absl::Duration timeout);

  struct ObjectLink : Link {
    ObjectLink() : Link(&Fire) {}
    static void Fire(Link* l, Waitable*);
    WaitSet* set = nullptr;
    // The FIFO of ready objects (a link fires at most once).
    ObjectLink* next_ready = nullptr;
  };
  struct TimeoutTimer : Timer {
    TimeoutTimer() : Timer(&Fire) {}
    static void Fire(Timer* t);
    WaitSet* set = nullptr;
  };
  void Wake();

  Hub* hub_;
  RawGreenlet* greenlet_;
  size_t size_;
  std::unique_ptr<ObjectLink[]> links_;
  ObjectLink* ready_head_ = nullptr;
  ObjectLink* ready_tail_ = nullptr;
  size_t count_;
  size_t returned_ = 0;
  TimeoutTimer timer_;
  bool timed_out_ = false;
  bool waiting_ = false;
};

template <typename C>
using ElementOf = std::decay_t<decltype(*std::begin(std::declval<const C&>()))>;

template <typename C, typename = void>
struct IsContainer : std::false_type {};
template <typename C>
struct IsContainer<C, std::void_t<decltype(std::begin(std::declval<const C&>()))>>
    : std::true_type {};

void KillAll(std::vector<std::shared_ptr<RawGreenlet>> greenlets,
             std::exception_ptr exception, bool block, absl::Duration timeout);

}  // namespace internal

// Waits until `count` of `objects` are ready (default: all), or `timeout`
// passed. Returns the ready ones in the order they became ready.
template <typename C,
          typename = std::enable_if_t<internal::IsContainer<C>::value>>
std::vector<internal::ElementOf<C>> wait(
    const C& objects, absl::Duration timeout = absl::InfiniteDuration(),
    size_t count = kAll) {
  // A copy: the caller's container may change while this greenlet waits.
  std::vector<internal::ElementOf<C>> elements(std::begin(objects),
                                               std::end(objects));
  internal::WaitSet set(elements, timeout, count);
  std::vector<internal::ElementOf<C>> out;
  out.reserve(std::min(count, elements.size()));
  // Each index comes once: the element moves (no reference count traffic).
  for (std::ptrdiff_t i; (i = set.Next()) >= 0;) {
    out.push_back(std::move(elements[i]));
  }
  return out;
}

// Without objects: waits until the hub has no referenced work left (every
// greenlet finished or blocked on something unreferenced). Returns true
// then, or false if `timeout` passed first. Call it from the main greenlet.
bool wait(absl::Duration timeout = absl::InfiniteDuration());

// Iterates over `objects` in the order they become ready (up to `count`,
// until `timeout`). Each step blocks until the next object is ready.
//
// example-prelude: std::vector<std::shared_ptr<gevent::Greenlet<int>>> greenlets;
// example-prelude: void use(int);
//   for (auto& g : gevent::iwait(greenlets)) use(g->get());
template <typename E>
class IWait {
 public:
  IWait(std::vector<E> elements, absl::Duration timeout, size_t count)
      : elements_(std::move(elements)),
        set_(std::make_unique<internal::WaitSet>(elements_, timeout, count)) {}

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = E;
    using difference_type = std::ptrdiff_t;
    using pointer = E*;
    using reference = E&;
    iterator() = default;
    explicit iterator(IWait* owner) : owner_(owner) { Advance(); }
    E& operator*() const { return owner_->elements_[index_]; }
    E* operator->() const { return &owner_->elements_[index_]; }
    iterator& operator++() {
      Advance();
      return *this;
    }
    bool operator==(const iterator& o) const { return done() == o.done(); }
    bool operator!=(const iterator& o) const { return !(*this == o); }

   private:
    bool done() const { return owner_ == nullptr || index_ < 0; }
    void Advance() { index_ = owner_->set_->Next(); }
    IWait* owner_ = nullptr;
    std::ptrdiff_t index_ = -1;
  };

  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::vector<E> elements_;
  std::unique_ptr<internal::WaitSet> set_;
};

template <typename C,
          typename = std::enable_if_t<internal::IsContainer<C>::value>>
IWait<internal::ElementOf<C>> iwait(
    const C& objects, absl::Duration timeout = absl::InfiniteDuration(),
    size_t count = kAll) {
  return IWait<internal::ElementOf<C>>(
      std::vector<internal::ElementOf<C>>(std::begin(objects),
                                          std::end(objects)),
      timeout, count);
}

// Waits for greenlets to finish (up to `count`, until `timeout`); returns the
// finished ones in finishing order. With `raise_error`, rethrows the error of
// the first one that failed, as soon as it fails.
template <typename C>
std::vector<internal::ElementOf<C>> joinall(
    const C& greenlets, absl::Duration timeout = absl::InfiniteDuration(),
    bool raise_error = false, size_t count = kAll) {
  if (!raise_error) return wait(greenlets, timeout, count);
  std::vector<internal::ElementOf<C>> done;
  for (auto& g : iwait(greenlets, timeout, count)) {
    done.push_back(g);
    if (!g->successful()) std::rethrow_exception(g->exception());
  }
  return done;
}

// Kills every greenlet (GreenletExit, or `exception`). Greenlets that have not
// started never run. With `block`, waits until they are all dead; if that
// takes longer than `timeout`, throws TimeoutError. The greenlets may be
// Greenlets of any result types or raw greenlets (spawn_raw()), as in
// gevent; a raw greenlet counts as dead once its function has returned or
// thrown. The main greenlet and the hub cannot be killed
// (std::invalid_argument).
template <typename C>
void killall(const C& greenlets, std::exception_ptr exception = nullptr,
             bool block = true,
             absl::Duration timeout = absl::InfiniteDuration()) {
  std::vector<std::shared_ptr<RawGreenlet>> gs;
  for (const auto& g : greenlets) gs.push_back(g);
  internal::KillAll(std::move(gs), std::move(exception), block, timeout);
}

// The same with a braced list of greenlets of any result types:
// joinall({a, b}), killall({a, b}), wait({a, b}).
inline GreenletList joinall(std::initializer_list<std::shared_ptr<GreenletBase>> greenlets,
                            absl::Duration timeout = absl::InfiniteDuration(),
                            bool raise_error = false, size_t count = kAll) {
  return joinall(GreenletList(greenlets), timeout, raise_error, count);
}
inline void killall(std::initializer_list<std::shared_ptr<RawGreenlet>> greenlets,
                    std::exception_ptr exception = nullptr, bool block = true,
                    absl::Duration timeout = absl::InfiniteDuration()) {
  internal::KillAll(std::vector<std::shared_ptr<RawGreenlet>>(greenlets), std::move(exception),
                    block, timeout);
}
inline GreenletList wait(std::initializer_list<std::shared_ptr<GreenletBase>> objects,
                         absl::Duration timeout = absl::InfiniteDuration(),
                         size_t count = kAll) {
  return wait(GreenletList(objects), timeout, count);
}

// gevent.kill(): kills `g` without waiting (GreenletExit, or `exception`).
void kill(const std::shared_ptr<RawGreenlet>& g,
          std::exception_ptr exception = nullptr);

// killall() and kill() with an exception value instead of an exception_ptr
// (Greenlet::kill and Timeout take either): killall(gs, Boom{}).
template <typename C, typename E,
          typename = std::enable_if_t<
              !std::is_same_v<std::decay_t<E>, std::exception_ptr> &&
              !std::is_same_v<std::decay_t<E>, std::nullptr_t> &&
              !internal::kReadsAsAnOption<E>>>
void killall(const C& greenlets, E exception, bool block = true,
             absl::Duration timeout = absl::InfiniteDuration()) {
  killall(greenlets, std::make_exception_ptr(std::move(exception)), block, timeout);
}
template <typename E, typename = std::enable_if_t<
                          !std::is_same_v<std::decay_t<E>, std::exception_ptr> &&
                          !std::is_same_v<std::decay_t<E>, std::nullptr_t> &&
                          !internal::kReadsAsAnOption<E>>>
void kill(const std::shared_ptr<RawGreenlet>& g, E exception) {
  kill(g, std::make_exception_ptr(std::move(exception)));
}

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_WAIT_H_
