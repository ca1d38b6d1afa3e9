// Intrusive doubly-linked FIFO used for the hub's queues and link lists.
//
// Nodes live inside the objects that are queued (a greenlet, a waiter on a
// greenlet's stack, ...), so queueing never allocates and removing a node is
// O(1). A node is in at most one list at a time.
#ifndef GEVENTPP_RUNTIME_INTERNAL_INTRUSIVE_LIST_H_
#define GEVENTPP_RUNTIME_INTERNAL_INTRUSIVE_LIST_H_

#include <cstddef>

namespace gevent {
namespace internal {

struct ListNode {
  ListNode* prev = nullptr;
  ListNode* next = nullptr;
  bool linked() const { return next != nullptr; }
};

// T must derive from ListNode.
template <typename T>
class IntrusiveList {
 public:
  IntrusiveList() { head_.prev = head_.next = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const { return head_.next == &head_; }
  size_t size() const { return size_; }

  void push_back(T* item) {
    ListNode* n = item;
    n->prev = head_.prev;
    n->next = &head_;
    head_.prev->next = n;
    head_.prev = n;
    ++size_;
  }

  void push_front(T* item) {
    ListNode* n = item;
    n->next = head_.next;
    n->prev = &head_;
    head_.next->prev = n;
    head_.next = n;
    ++size_;
  }

  T* front() const { return empty() ? nullptr : static_cast<T*>(head_.next); }
  T* back() const { return empty() ? nullptr : static_cast<T*>(head_.prev); }
  // The item before `item` (which is in this list), or nullptr if it is first.
  T* before(const T* item) const {
    const ListNode* p = static_cast<const ListNode*>(item)->prev;
    return p == &head_ ? nullptr : static_cast<T*>(const_cast<ListNode*>(p));
  }

  T* pop_front() {
    if (empty()) return nullptr;
    T* item = static_cast<T*>(head_.next);
    remove(item);
    return item;
  }

  // Removes `item`, which must be in this list.
  void remove(T* item) {
    ListNode* n = item;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = nullptr;
    --size_;
  }

  // Moves every node of `other` to the end of this list.
  void splice_back(IntrusiveList& other) {
    if (other.empty()) return;
    ListNode* first = other.head_.next;
    ListNode* last = other.head_.prev;
    first->prev = head_.prev;
    head_.prev->next = first;
    last->next = &head_;
    head_.prev = last;
    size_ += other.size_;
    other.head_.prev = other.head_.next = &other.head_;
    other.size_ = 0;
  }

  // Iteration in FIFO order. Do not remove nodes while iterating except the
  // current one via a saved `next`.
  template <typename F>
  void for_each(F&& f) const {
    for (ListNode* n = head_.next; n != &head_;) {
      ListNode* next = n->next;
      f(static_cast<T*>(n));
      n = next;
    }
  }

 private:
  ListNode head_;
  size_t size_ = 0;
};

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_INTRUSIVE_LIST_H_
