// Tests for runtime/internal/stack_pool.h: reuse, canary, guard pages and
// the guarded-stack budget.
#include "runtime/internal/stack_pool.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace internal {
namespace {

size_t Page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

TEST(StackPool, SizeIsRoundedToPagesWithAMinimum) {
  StackPool dflt;
  EXPECT_EQ(dflt.stack_size(), StackPool::kDefaultStackSize);
  StackPool odd(Page() * 5 + 1);
  EXPECT_EQ(odd.stack_size(), Page() * 6);
  StackPool tiny(1);
  EXPECT_EQ(tiny.stack_size(), Page() * 4);
  Stack s = tiny.Acquire();
  EXPECT_EQ(s.size, Page() * 4);
  tiny.Release(s);
}

TEST(StackPool, ReleasedStackIsReusedMostRecentFirst) {
  StackPool pool;
  Stack a = pool.Acquire();
  Stack b = pool.Acquire();
  ASSERT_TRUE(a.valid());
  ASSERT_TRUE(b.valid());
  EXPECT_NE(a.base, b.base);
  EXPECT_EQ(pool.free_count(), 0u);
  pool.Release(a);
  EXPECT_EQ(pool.free_count(), 1u);
  Stack c = pool.Acquire();
  EXPECT_EQ(c.base, a.base);  // the same stack again
  EXPECT_EQ(c.size, a.size);
  EXPECT_EQ(c.guard, a.guard);
  pool.Release(b);
  pool.Release(c);
  EXPECT_EQ(pool.free_count(), 2u);
  EXPECT_EQ(pool.Acquire().base, c.base);  // most recently freed first
  EXPECT_EQ(pool.Acquire().base, b.base);
  EXPECT_EQ(pool.free_count(), 0u);
}

TEST(StackPool, CanaryDetectsOverwritesOfUnguardedStacks) {
  // An unguarded stack's canary is the line just below its base, filled
  // with a non-zero pattern; guarded ones rely on the guard page.
  alignas(64) static char memory[5 * 4096];
  Stack s;
  s.base = memory + 4096;
  s.size = 4 * 4096;
  s.colour = 128;
  EXPECT_FALSE(StackPool::CanaryIntact(s));  // not written yet: zeros
  StackPool::WriteCanary(s.base);
  EXPECT_TRUE(StackPool::CanaryIntact(s));
  // Using the stack from the top down leaves the canary alone.
  std::memset(s.base, 0xAB, s.usable());
  EXPECT_TRUE(StackPool::CanaryIntact(s));
  // Any byte changed in the line below the base is detected, to zero too.
  for (size_t i = 1; i <= kCanaryBytes; ++i) {
    char* b = s.base - static_cast<ptrdiff_t>(i);
    const char saved = *b;
    *b = 0;
    EXPECT_FALSE(StackPool::CanaryIntact(s)) << "zero at byte " << i;
    *b = static_cast<char>(saved ^ 0x40);
    EXPECT_FALSE(StackPool::CanaryIntact(s)) << "byte " << i << " below";
    *b = saved;
  }
  EXPECT_TRUE(StackPool::CanaryIntact(s));
  // A zero-filled frame over the whole line.
  std::memset(s.base - kCanaryBytes, 0, kCanaryBytes);
  EXPECT_FALSE(StackPool::CanaryIntact(s));

  StackPool pool;
  Stack guarded = pool.Acquire();
  ASSERT_NE(guarded.guard, nullptr);
  guarded.base[0] ^= 0x01;  // no canary to break: the guard page protects it
  EXPECT_TRUE(StackPool::CanaryIntact(guarded));
  guarded.base[0] ^= 0x01;
  pool.Release(guarded);
  Stack again = pool.Acquire();
  EXPECT_EQ(again.base, guarded.base);  // reused, most recent first
  pool.Release(again);
}

TEST(StackPool, ColoursSpreadTheTopsAndStayWithTheStack) {
  StackPool pool;
  std::vector<Stack> stacks;
  std::set<uint32_t> colours;
  for (int i = 0; i < 256; ++i) {
    Stack s = pool.Acquire();
    ASSERT_GE(s.colour, StackPool::kColourLine) << i;
    ASSERT_LE(s.colour, StackPool::kColours * StackPool::kColourLine) << i;
    ASSERT_EQ(s.colour % StackPool::kColourLine, 0u) << i;
    EXPECT_EQ(s.top(), s.base + s.size - s.colour);
    EXPECT_EQ(s.usable(), s.size - s.colour);
    colours.insert(s.colour);
    stacks.push_back(s);
  }
  EXPECT_EQ(colours.size(), size_t{StackPool::kColours});  // all are used
  // A reused stack keeps its colour (its frames stay where they were warm).
  pool.Release(stacks[7]);
  Stack again = pool.Acquire();
  EXPECT_EQ(again.base, stacks[7].base);
  EXPECT_EQ(again.colour, stacks[7].colour);
  stacks[7] = again;
  // The same sequence of stacks gets the same colours in every pool.
  StackPool other;
  std::vector<Stack> others;
  for (int i = 0; i < 16; ++i) {
    others.push_back(other.Acquire());
    EXPECT_EQ(others.back().colour, stacks[i].colour) << i;
  }
  for (Stack& s : others) other.Release(s);
  for (Stack& s : stacks) pool.Release(s);
}

// Slab stacks (once the guarded budget is used up) get their canary when
// handed out, and a trim of the stack below keeps it.
TEST(StackPool, SlabStacksCarryTheirCanaryThroughTrims) {
  StackPool hog;
  std::vector<Stack> guarded;
  for (;;) {
    Stack s = hog.Acquire();
    if (s.guard == nullptr) {
      hog.Release(s);
      break;
    }
    guarded.push_back(s);
  }
  StackPool pool(Page() * 4);
  std::vector<Stack> stacks;
  for (int i = 0; i < 8; ++i) {
    stacks.push_back(pool.Acquire());
    ASSERT_EQ(stacks.back().guard, nullptr) << i;
    EXPECT_TRUE(StackPool::CanaryIntact(stacks.back())) << i;
  }
  // Free and trim the even ones: the odd ones above them keep their canary.
  for (int i = 0; i < 8; i += 2) pool.Release(stacks[i]);
  EXPECT_EQ(pool.Trim(0), 4u);
  for (int i = 1; i < 8; i += 2) {
    EXPECT_TRUE(StackPool::CanaryIntact(stacks[i])) << i;
  }
  for (int i = 1; i < 8; i += 2) pool.Release(stacks[i]);
  for (Stack& s : guarded) hog.Release(s);
}

TEST(StackPool, SizedStacksAreMappedAloneAndGuarded) {
  StackPool pool(Page() * 4);
  Stack same = pool.AcquireSized(Page() * 4);  // the pool's own size
  EXPECT_EQ(same.size, Page() * 4);
  pool.Release(same);
  EXPECT_EQ(pool.free_count(), 1u);
  const size_t before = pool.free_count();
  Stack big = pool.AcquireSized(Page() * 64);
  ASSERT_TRUE(big.valid());
  EXPECT_EQ(big.size, Page() * 64);
  EXPECT_NE(big.guard, nullptr);
  EXPECT_TRUE(StackPool::InGuard(big, big.base - 1));
  EXPECT_GE(big.colour, StackPool::kColourLine);
  std::memset(big.base, 0x5A, big.usable());  // all of it is usable
  pool.Release(big);
  EXPECT_EQ(pool.free_count(), before);  // unmapped, not pooled
}

// A stack's pages are given back once, not again at every Trim() while it
// stays unused: a thread that once ran many greenlets keeps them all in its
// pool, and each of its hubs trims the pool when it is destroyed.
TEST(StackPool, TrimGivesBackEachUnusedStackOnce) {
  StackPool pool(Page() * 4);
  std::vector<Stack> stacks;
  for (size_t i = 0; i < StackPool::kWarmStacks + 8; ++i) {
    stacks.push_back(pool.Acquire());
  }
  for (Stack& s : stacks) pool.Release(s);
  EXPECT_EQ(pool.Trim(), 8u);
  EXPECT_EQ(pool.Trim(), 0u);  // the same 8: still trimmed
  // Warm ones used and freed again: the cold ones are still the same.
  std::vector<Stack> few;
  for (int i = 0; i < 10; ++i) few.push_back(pool.Acquire());
  for (Stack& s : few) pool.Release(s);
  EXPECT_EQ(pool.Trim(), 0u);
  // All used: all are warm again, and the 8 oldest frees go back again.
  stacks.clear();
  for (size_t i = 0; i < StackPool::kWarmStacks + 8; ++i) {
    stacks.push_back(pool.Acquire());
    std::memset(stacks.back().top() - 64, 0xCD, 64);
  }
  for (Stack& s : stacks) pool.Release(s);
  EXPECT_EQ(pool.Trim(), 8u);
}

TEST(StackPool, CanarySurvivesReleaseBeyondWarmStacks) {
  // Trim() gives back the pages of all but kWarmStacks freed stacks; the
  // stacks stay usable (and unguarded ones keep their canary page).
  StackPool pool(Page() * 4);
  std::vector<Stack> stacks;
  for (size_t i = 0; i < StackPool::kWarmStacks + 8; ++i) {
    stacks.push_back(pool.Acquire());
  }
  for (Stack& s : stacks) std::memset(s.top() - 64, 0xCD, 64);
  for (Stack& s : stacks) pool.Release(s);
  EXPECT_EQ(pool.Trim(), 8u);  // all but the kWarmStacks most recent
  for (size_t i = 0; i < stacks.size(); ++i) {
    Stack s = pool.Acquire();
    EXPECT_TRUE(StackPool::CanaryIntact(s)) << "stack " << i;
    EXPECT_TRUE(s.valid());
  }
}

TEST(StackPool, GuardPageBelowGuardedStacks) {
  StackPool pool;
  const size_t before = pool.guarded_count();
  EXPECT_EQ(before, 0u);
  Stack s = pool.Acquire();
  ASSERT_NE(s.guard, nullptr) << "the first stacks get a guard page";
  EXPECT_EQ(pool.guarded_count(), 1u);
  EXPECT_EQ(s.guard + Page(), s.base);
  EXPECT_TRUE(StackPool::InGuard(s, s.guard));
  EXPECT_TRUE(StackPool::InGuard(s, s.base - 1));
  EXPECT_FALSE(StackPool::InGuard(s, s.base));
  EXPECT_FALSE(StackPool::InGuard(s, s.top() - 1));
  EXPECT_FALSE(StackPool::InGuard(s, s.guard - 1));
  // Reuse does not make a new guarded stack.
  pool.Release(s);
  Stack t = pool.Acquire();
  EXPECT_EQ(t.base, s.base);
  EXPECT_EQ(pool.guarded_count(), 1u);
  Stack u = pool.Acquire();
  EXPECT_EQ(pool.guarded_count(), 2u);
  EXPECT_NE(u.guard, nullptr);
  pool.Release(t);
  pool.Release(u);
  Stack unguarded;  // an unguarded stack has no guard page at all
  unguarded.base = s.base;
  unguarded.size = s.size;
  EXPECT_FALSE(StackPool::InGuard(unguarded, s.base - 1));
}

TEST(StackPool, MaxGuardedStacksIsBounded) {
  const size_t max = StackPool::MaxGuardedStacks();
  EXPECT_GT(max, 0u);
  EXPECT_LE(max, 16384u);
  EXPECT_EQ(StackPool::MaxGuardedStacks(), max);  // stable
}

TEST(StackPool, GuardedCountStopsAtTheBudgetThenSlabs) {
  const size_t max = StackPool::MaxGuardedStacks();
  StackPool pool(Page() * 4);
  std::vector<Stack> stacks;
  std::set<char*> bases;
  for (size_t i = 0; i < max + StackPool::kSlabStacks + 3; ++i) {
    Stack s = pool.Acquire();
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(StackPool::CanaryIntact(s));
    bases.insert(s.base);
    stacks.push_back(s);
  }
  EXPECT_EQ(bases.size(), stacks.size());  // all distinct
  EXPECT_EQ(pool.guarded_count(), max);
  size_t unguarded = 0;
  size_t neighbours = 0;
  for (size_t i = 0; i < stacks.size(); ++i) {
    if (i < max) {
      EXPECT_NE(stacks[i].guard, nullptr) << i;
    } else {
      EXPECT_EQ(stacks[i].guard, nullptr) << i;
      ++unguarded;
      // Slab stacks do not overlap each other, and an unguarded stack's
      // canary is never inside another one's usable part.
      for (size_t j = max; j < i; ++j) {
        ASSERT_TRUE(stacks[j].base + stacks[j].size <= stacks[i].base ||
                    stacks[i].base + stacks[i].size <= stacks[j].base);
        if (stacks[j].base + stacks[j].size == stacks[i].base) {
          ASSERT_LE(stacks[j].top(), stacks[i].base - kCanaryBytes);
          ++neighbours;
        } else if (stacks[i].base + stacks[i].size == stacks[j].base) {
          ASSERT_LE(stacks[i].top(), stacks[j].base - kCanaryBytes);
          ++neighbours;
        }
      }
      // Its canary starts out intact.
      EXPECT_TRUE(StackPool::CanaryIntact(stacks[i]));
    }
  }
  EXPECT_EQ(unguarded, StackPool::kSlabStacks + 3);
  EXPECT_GE(neighbours, StackPool::kSlabStacks);  // back to back in slabs
  // A slab stack used to its last usable byte breaks no canary.
  for (size_t i = max; i < stacks.size(); ++i) {
    std::memset(stacks[i].base, 0xAB, stacks[i].usable());
  }
  for (size_t i = max; i < stacks.size(); ++i) {
    EXPECT_TRUE(StackPool::CanaryIntact(stacks[i])) << i;
  }
  // A second pool in the same process shares the budget: no guard pages.
  StackPool other(Page() * 4);
  Stack o = other.Acquire();
  EXPECT_EQ(o.guard, nullptr);
  EXPECT_EQ(other.guarded_count(), 0u);
  EXPECT_TRUE(StackPool::CanaryIntact(o));
  other.Release(o);
  for (Stack& s : stacks) pool.Release(s);
}

TEST(StackPool, BudgetIsReturnedWhenAPoolIsDestroyed) {
  {
    StackPool pool(Page() * 4);
    std::vector<Stack> stacks;
    for (size_t i = 0; i < StackPool::MaxGuardedStacks(); ++i) {
      stacks.push_back(pool.Acquire());
    }
    EXPECT_EQ(pool.guarded_count(), StackPool::MaxGuardedStacks());
    for (Stack& s : stacks) pool.Release(s);
  }
  StackPool fresh;
  Stack s = fresh.Acquire();
  EXPECT_NE(s.guard, nullptr);
  EXPECT_EQ(fresh.guarded_count(), 1u);
  fresh.Release(s);
}

// Runs 10 short sleepers to completion on a new hub of `backend`, made the
// thread's hub, then destroys the hub.
void RunOnANewHub(const std::string& backend) {
  std::unique_ptr<Hub> hub = gevent::testing::MakeBackendHub(backend);
  Hub* h = hub.get();
  std::unique_ptr<Hub> previous = exchange_hub(std::move(hub));
  std::vector<std::shared_ptr<Greenlet<int>>> gs;
  for (int i = 0; i < 10; ++i) {
    gs.push_back(spawn([i] {
      sleep(absl::Milliseconds(1));
      return i;
    }));
  }
  joinall(gs);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(gs[i]->get(), i);
  gs.clear();
  h->destroy();
  exchange_hub(std::move(previous));
}

class ThreadStackPool : public ::testing::TestWithParam<std::string> {};

// The thread keeps its pool after its last hub is destroyed: a new hub (a
// simulation per test case, a seed sweep) makes no new stacks.
TEST_P(ThreadStackPool, ANewHubReusesTheStacksOfTheLastOne) {
  RunOnANewHub(GetParam());  // makes the stacks (or reuses an earlier test's)
  const uint64_t made = StackPool::MadeInProcess();
  EXPECT_EQ(get_hub_if_exists(), nullptr);  // no hub left holding the pool
  for (int run = 0; run < 3; ++run) RunOnANewHub(GetParam());
  EXPECT_EQ(StackPool::MadeInProcess(), made);
  // And they wait in the pool for the next hub.
  EXPECT_GE(StackPool::ForThisThread()->free_count(), 10u);
}

GEVENT_INSTANTIATE_BACKENDS(ThreadStackPool);

}  // namespace
}  // namespace internal
}  // namespace gevent
