// Greenlet: a function running in its own stackful coroutine, scheduled by
// the hub, with gevent's semantics for start, kill, link, join and get.
//
//   auto g = gevent::spawn([](int x) { gevent::sleep(absl::Milliseconds(10));
//                                      return x * 2; }, 21);
//   int v = g->get();   // 42; rethrows what the function threw
//
// spawn() returns std::shared_ptr<Greenlet<T>>, where T is what the function
// returns (void allowed). Every Greenlet<T> is a GreenletBase, so joinall(),
// killall() and wait() take mixed greenlets. A running greenlet is kept
// alive by the hub: dropping the handle does not stop it.
//
// Spawning schedules the greenlet: it starts, in spawn order, the next time
// the spawner blocks (sleep, join, wait, ...). Greenlets switch only at
// blocking calls; code between them runs without interruption.
//
// Errors: an exception that escapes the function ends the greenlet, is kept
// (exception(), get() rethrows it) and is reported once by the hub's error
// handler as "<name> failed with <type>: <what>". kill() raises GreenletExit
// in the greenlet; a greenlet that ends with GreenletExit is successful and
// killed() says so; it is never reported.
//
// Threads: a greenlet belongs to the hub it was spawned on. start(), join(),
// get() and kill() (and killall(), joinall(), wait() over it) from another
// thread, or from a greenlet of another hub, throw InvalidThreadUseError
// naming the greenlet and both hubs (docs/api.md, "Threads").
#ifndef GEVENTPP_RUNTIME_GREENLET_H_
#define GEVENTPP_RUNTIME_GREENLET_H_

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "runtime/exceptions.h"
#include "runtime/hub.h"
#include "runtime/raw_greenlet.h"
#include "runtime/timeout.h"
#include "runtime/waitable.h"

namespace gevent {

class GreenletBase;
namespace internal {
void WaitForResult(GreenletBase* g, bool block, absl::Duration timeout);
}  // namespace internal

class GreenletBase : public RawGreenlet, public Waitable {
 public:
  ~GreenletBase() override;

  // Schedules the greenlet to start the next time the hub runs callbacks.
  // Does nothing if it was already started, scheduled or killed.
  void start();
  // Schedules it to start after `delay` (negative counts as zero).
  void start_later(absl::Duration delay);

  // Waits until the greenlet is dead or `timeout` passed (it returns either
  // way; check ready()). Joining the current greenlet is an error
  // (std::logic_error), as it would wait forever.
  void join(absl::Duration timeout = absl::InfiniteDuration());

  // Raises GreenletExit (or `exception`) in the greenlet at its blocking
  // point. A greenlet that has not started yet never runs and is dead at
  // once. With `block`, waits up to `timeout` for it to die (it may catch
  // the exception and go on: check dead()).
  void kill(bool block = true, absl::Duration timeout = absl::InfiniteDuration()) {
    kill_with(nullptr, block, timeout);
  }
  template <typename E, typename = std::enable_if_t<!internal::kReadsAsAnOption<E>>>
  void kill(E exception, bool block = true,
            absl::Duration timeout = absl::InfiniteDuration()) {
    if constexpr (std::is_same_v<std::decay_t<E>, std::exception_ptr>) {
      kill_with(std::move(exception), block, timeout);
    } else {
      kill_with(std::make_exception_ptr(std::move(exception)), block, timeout);
    }
  }
  // kill(absl::Milliseconds(10)) (meant: wait at most 10 ms) and other
  // numbers and times do not compile: write kill(true, d).
  template <typename E, std::enable_if_t<internal::kReadsAsAnOption<E> &&
                                             !std::is_same_v<std::decay_t<E>, bool>,
                                         int> = 0>
  void kill(E not_an_exception, bool block = true,
            absl::Duration timeout = absl::InfiniteDuration()) = delete;
  // The same with the exception as an exception_ptr (nullptr: GreenletExit).
  void kill_with(std::exception_ptr exception, bool block = true,
                 absl::Duration timeout = absl::InfiniteDuration());

  // Links: `callback(*this)` runs once the greenlet is dead, each in a new
  // greenlet, in link order. link_value only if it succeeded, link_exception
  // only if it failed. rawlink() (from Waitable) runs a callback in the hub
  // instead. unlink() removes a link that has not run.
  LinkId link(std::function<void(GreenletBase&)> callback);
  LinkId link_value(std::function<void(GreenletBase&)> callback);
  LinkId link_exception(std::function<void(GreenletBase&)> callback);
  using Waitable::rawlink;
  using Waitable::unlink;
  using RawGreenlet::hub;

  // True once dead: finished, failed, or killed (even before it started).
  bool ready() const override { return finished(); }
  bool dead() const { return finished(); }
  // True if dead without an error (returned, or killed by GreenletExit).
  bool successful() const { return finished() && error_ == nullptr; }
  // The error it died with, or nullptr.
  std::exception_ptr exception() const { return error_; }
  // True if it died by GreenletExit (its "value" is the GreenletExit).
  bool killed() const { return exit_.has_value(); }
  const std::optional<GreenletExit>& exit_value() const { return exit_; }
  // True once start() or start_later() was called and it is not dead
  // (gevent's `started`, which is bool(greenlet)).
  bool started() const { return start_requested_ && !finished(); }
  explicit operator bool() const { return started(); }

 protected:
  explicit GreenletBase(Hub* hub);
  // Runs the user's function and stores its result.
  virtual void RunFunction() = 0;
  // Drops the function and its arguments (after it ran, or was killed).
  virtual void ReleaseFunction() = 0;

 private:
  void Run() final;
  void OnRunFinished() final;
  void OnAbandoned() final;
  void on_notify_scheduled() final;
  void on_links_notified() final;
  bool MaybeKillBeforeStart(std::exception_ptr exception);
  // Throws InvalidThreadUseError unless called from this greenlet's hub.
  void CheckHub(const char* what) const;
  friend void internal::WaitForResult(GreenletBase* g, bool block,
                                      absl::Duration timeout);
  // shared_from_this(), or a std::logic_error that says how to own it.
  std::shared_ptr<GreenletBase> SharedSelf();
  void Finish();
  // Its hub was destroyed while its start was still queued.
  void NeverStarted();
  // Ends it killed with GreenletExit(why), finished already.
  void EndWithoutLinks(const char* why);
  void Die(std::exception_ptr error);
  LinkId AddSpawnedLink(std::function<void(GreenletBase&)> callback, int when);

  struct StartCallback : Callback {
    StartCallback() : Callback(&Fire, &Discard) {}
    static void Fire(Callback* c);
    static void Discard(Callback* c);
    GreenletBase* owner = nullptr;
  };
  struct StartTimer : Timer {
    StartTimer() : Timer(&Fire, &Discard) {}
    static void Fire(Timer* t);
    static void Discard(Timer* t);
    GreenletBase* owner = nullptr;
  };

  StartCallback start_callback_;
  std::unique_ptr<StartTimer> start_timer_;  // for start_later() only
  bool start_requested_ = false;
  std::exception_ptr error_;
  std::optional<GreenletExit> exit_;
  // Keeps the object alive while it is scheduled, running, or notifying.
  std::shared_ptr<GreenletBase> keep_alive_;
  // Keeps the object alive until its links have been notified.
  std::shared_ptr<GreenletBase> notify_keep_alive_;
  uint64_t hub_id_;
};

namespace internal {
template <typename F>
struct IsStdFunction : std::false_type {};
template <typename R, typename... A>
struct IsStdFunction<std::function<R(A...)>> : std::true_type {};

// A link callback of a Greenlet<T>, called with the greenlet as its own
// type (the greenlet a link runs for is always the one it was made on).
template <typename Self, typename F>
std::function<void(GreenletBase&)> TypedLink(F&& callback) {
  using Fn = std::decay_t<F>;
  if constexpr (std::is_same_v<Fn, std::nullptr_t>) {
    return nullptr;  // link() refuses it by name
  } else {
    static_assert(std::is_invocable_v<Fn&, Self&>,
                  "gevent: a link callback takes the greenlet, as Greenlet<T>& "
                  "(or GreenletBase&)");
    if constexpr (IsStdFunction<Fn>::value || std::is_pointer_v<Fn>) {
      if (!callback) return nullptr;
    }
    return [fn = Fn(std::forward<F>(callback))](GreenletBase& g) mutable {
      fn(static_cast<Self&>(g));
    };
  }
}
// What Greenlet<T> and Greenlet<void> share: links whose callback may take
// the greenlet as its own type, `Self`.
template <typename Self>
class TypedGreenlet : public GreenletBase {
 public:
  // Links, as GreenletBase's, but the callback may take this greenlet as
  // its own type, so that value() needs no cast:
  // example-prelude: auto g = gevent::spawn([] { return 1; }); void use(int);
  //   g->link_value([](gevent::Greenlet<int>& g) { use(*g.value()); });
  // A callback taking GreenletBase& works as before.
  template <typename F>
  LinkId link(F&& callback) {
    return GreenletBase::link(TypedLink<Self>(std::forward<F>(callback)));
  }
  template <typename F>
  LinkId link_value(F&& callback) {
    return GreenletBase::link_value(TypedLink<Self>(std::forward<F>(callback)));
  }
  template <typename F>
  LinkId link_exception(F&& callback) {
    return GreenletBase::link_exception(TypedLink<Self>(std::forward<F>(callback)));
  }

 protected:
  using GreenletBase::GreenletBase;
};
}  // namespace internal

template <typename T>
class Greenlet : public internal::TypedGreenlet<Greenlet<T>> {
 public:
  // Waits for the result (up to `timeout`) and returns it, or rethrows the
  // exception the greenlet died with. Not ready in time (or `block` false and
  // not ready): throws TimeoutError. A greenlet killed by GreenletExit has no
  // value: throws NoValueError.
  // For a type that cannot be copied (std::unique_ptr, ...) it returns a
  // reference to the value kept in the greenlet instead.
  using GetResult =
      std::conditional_t<std::is_copy_constructible_v<T>, T, const T&>;
  GetResult get(bool block = true,
                absl::Duration timeout = absl::InfiniteDuration()) {
    WaitForGet(block, timeout);
    if (this->exception() != nullptr) std::rethrow_exception(this->exception());
    if (!value_.has_value()) {
      const std::string why =
          this->exit_value().has_value() ? this->exit_value()->what() : "";
      throw NoValueError("greenlet '" + this->name() + "' was killed (" +
                         (why == "GreenletExit" || why.empty() ? "GreenletExit"
                                                               : "GreenletExit: " + why) +
                         ") and has no value");
    }
    return *value_;
  }
  // get(timeout=...): blocks for at most `timeout`.
  GetResult get(absl::Duration timeout) { return get(true, timeout); }
  // The value it returned, if it finished successfully by returning.
  const std::optional<T>& value() const { return value_; }

 protected:
  using Base = internal::TypedGreenlet<Greenlet<T>>;
  using Base::Base;
  void SetValue(T v) { value_.emplace(std::move(v)); }

 private:
  void WaitForGet(bool block, absl::Duration timeout);
  std::optional<T> value_;
};

template <>
class Greenlet<void> : public internal::TypedGreenlet<Greenlet<void>> {
 public:
  // Waits for the greenlet to finish, or rethrows its exception. A greenlet
  // killed by GreenletExit returns normally (like gevent's get() returning
  // the GreenletExit).
  void get(bool block = true, absl::Duration timeout = absl::InfiniteDuration());
  // get(timeout=...): blocks for at most `timeout`.
  void get(absl::Duration timeout) { get(true, timeout); }

 protected:
  using TypedGreenlet::TypedGreenlet;
};

// A greenlet defined by a class: gevent's Greenlet subclass that overrides
// _run() (and __str__). It keeps its state in members and has everything a
// spawned greenlet has: start()/start_later(), join, get, kill, links, states.
//
//   class Worker : public gevent::GreenletClass<int> {
//    public:
//     gevent::Queue<int> inbox;
//    protected:
//     int _run() override {                      // the body; its value is get()'s
//       int done = 0;
//       while (inbox.get() >= 0) ++done;
//       return done;
//     }
//     std::string describe() const override { return "Worker"; }  // __str__
//   };
//   auto w = gevent::spawn_greenlet<Worker>();  // std::make_shared + start()
//   w->inbox.put(1);
//   w->inbox.put(-1);
//   w->get();                                    // 1
//
// An object must be owned by a std::shared_ptr to start (spawn_greenlet, or
// std::make_shared then start()); once started it stays alive until it has
// finished and its links have run, even if every pointer to it is dropped.
// Run() and RunFunction() are final: overriding them does not compile; the
// body is _run(). describe() names it in error and deadlock reports.
template <typename T = void>
class GreenletClass : public Greenlet<T> {
 protected:
  // On the thread's hub.
  GreenletClass() : Greenlet<T>(get_hub()) {}
  // The body (gevent's _run()). Its value is what get() returns.
  virtual T _run() = 0;

 private:
  void RunFunction() final {
    if constexpr (std::is_void_v<T>) {
      _run();
    } else {
      this->SetValue(_run());
    }
  }
  void ReleaseFunction() final {}
};

// Makes a `G` (a GreenletClass) from `args` and starts it (gevent's
// MyGreenlet.spawn(args)).
template <typename G, typename... Args>
std::shared_ptr<G> spawn_greenlet(Args&&... args) {
  static_assert(std::is_base_of_v<GreenletBase, G>,
                "gevent::spawn_greenlet: the type must derive from GreenletClass<T>");
  auto g = std::make_shared<G>(std::forward<Args>(args)...);
  g->start();
  return g;
}

// A list of greenlets of any result types, as joinall(), killall(), wait()
// and iwait() take: GreenletList{a, b} with a and b of different types.
using GreenletList = std::vector<std::shared_ptr<GreenletBase>>;

namespace internal {

// The function of a greenlet runs once, so it and its stored arguments are
// passed as rvalues when it accepts them (a function may take a
// std::unique_ptr by value), else as lvalues (it may take a reference to its
// stored argument).

template <typename F, typename... Args>
constexpr bool kInvocableAsRvalues = std::is_invocable_v<F, Args...>;

template <typename F, typename... Args>
decltype(auto) InvokeOnce(F& fn, Args&... args) {
  if constexpr (kInvocableAsRvalues<F, Args...>) {
    return std::invoke(std::move(fn), std::move(args)...);
  } else {
    return std::invoke(fn, args...);
  }
}

template <typename F, typename... Args>
struct CallResult {
  using type = typename std::conditional_t<
      kInvocableAsRvalues<F, Args...>, std::invoke_result<F, Args...>,
      std::invoke_result<F&, Args&...>>::type;
};

template <typename F, typename... Args>
constexpr bool kSpawnable =
    std::is_invocable_v<F, Args...> || std::is_invocable_v<F&, Args&...>;

// Blocks for get(): throws TimeoutError if not ready in time.
void WaitForResult(GreenletBase* g, bool block, absl::Duration timeout);

template <typename T, typename F, typename... Args>
class BoundGreenlet final : public Greenlet<T> {
 public:
  template <typename FF, typename... AA>
  BoundGreenlet(Hub* hub, FF&& f, AA&&... args)
      : Greenlet<T>(hub),
        call_(std::in_place, std::forward<FF>(f), std::forward<AA>(args)...) {}

 protected:
  void RunFunction() override {
    auto& call = *call_;
    if constexpr (std::is_void_v<T>) {
      std::apply([](auto& fn, auto&... a) { InvokeOnce(fn, a...); }, call);
    } else {
      this->SetValue(std::apply(
          [](auto& fn, auto&... a) -> T { return InvokeOnce(fn, a...); }, call));
    }
  }
  void ReleaseFunction() override { call_.reset(); }

 private:
  std::optional<std::tuple<F, Args...>> call_;
};

template <typename F>
bool IsEmptyCallable(const F& f) {
  if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return f == nullptr;
  } else if constexpr (std::is_constructible_v<bool, const F&> &&
                       !std::is_arithmetic_v<F>) {
    return !static_cast<bool>(f);  // std::function and the like
  } else {
    return false;
  }
}

}  // namespace internal

template <typename T>
void Greenlet<T>::WaitForGet(bool block, absl::Duration timeout) {
  internal::WaitForResult(this, block, timeout);
}

// The result type of spawn(f, args...).
template <typename F, typename... Args>
using GreenletFor = Greenlet<typename internal::CallResult<
    std::decay_t<F>, std::decay_t<Args>...>::type>;

// Makes a greenlet that will run `f(args...)` (copies of them), without
// starting it: call start() or start_later(). Throws std::invalid_argument if
// `f` is an empty std::function or a null pointer. A non-callable `f` does
// not compile.
template <typename F, typename... Args>
std::shared_ptr<GreenletFor<F, Args...>> make_greenlet(F&& f, Args&&... args) {
  static_assert(internal::kSpawnable<std::decay_t<F>, std::decay_t<Args>...>,
                "gevent::spawn: the first argument must be callable with the "
                "arguments that follow it");
  if (internal::IsEmptyCallable(f)) {
    throw std::invalid_argument("gevent::spawn: the function is empty");
  }
  using T = typename internal::CallResult<std::decay_t<F>,
                                          std::decay_t<Args>...>::type;
  Hub* hub = get_hub();
  return std::make_shared<
      internal::BoundGreenlet<T, std::decay_t<F>, std::decay_t<Args>...>>(
      hub, std::forward<F>(f), std::forward<Args>(args)...);
}

// Makes a greenlet running `f(args...)` and schedules it to start.
//
// The handle is a std::shared_ptr: `if (g)`, `!g`, `EXPECT_FALSE(g)` test
// the pointer (never null), not gevent's `bool(g)`. Write `*g`,
// `g->started()` or `g->dead()` (docs/api.md, "Where C++ differs").
template <typename F, typename... Args>
std::shared_ptr<GreenletFor<F, Args...>> spawn(F&& f, Args&&... args) {
  auto g = make_greenlet(std::forward<F>(f), std::forward<Args>(args)...);
  g->start();
  return g;
}

// Makes a greenlet running `f(args...)` and schedules it to start after
// `delay`.
template <typename F, typename... Args>
std::shared_ptr<GreenletFor<F, Args...>> spawn_later(absl::Duration delay,
                                                     F&& f, Args&&... args) {
  auto g = make_greenlet(std::forward<F>(f), std::forward<Args>(args)...);
  g->start_later(delay);
  return g;
}

// True if spawn(f, args...) compiles (gevent raises TypeError at run time).
template <typename F, typename... Args>
inline constexpr bool is_spawnable_v =
    internal::kSpawnable<std::decay_t<F>, std::decay_t<Args>...>;

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_GREENLET_H_
