// Survives a segment that shrinks under its mapping. A producer (hostile, or just buggy) can
// ftruncate its segment after the reader mapped it; the next load from a page past the new end
// raises SIGBUS, whose default action would kill the agent and every other engine's spans with
// it. Reads of mapped memory therefore run inside guarded(): a process-wide SIGBUS handler
// siglongjmps back to the innermost guard of the faulting thread, and guarded() returns false.
//
// A guarded region must do only what may be abandoned halfway: memcpy, atomic loads and stores,
// arithmetic on trivially destructible locals. No allocation, no locks, no destructors to run.
//
// The handler is installed by the first install_fault_handler() (SegmentReader::open and
// attach_segment call it) with SA_SIGINFO | SA_NODEFER, so SIGBUS is not left blocked after the
// jump (sigsetjmp(…, 0) saves no mask: a guard costs no syscall). A SIGBUS raised outside any
// guard is not ours: the handler passes it to the handler installed before it, or restores the
// default action and re-raises it. Code that later replaces the SIGBUS handler (sanitizers, a
// host program) disables the guard; ASan needs ASAN_OPTIONS=handle_sigbus=0.
#pragma once

#include <type_traits>

namespace spanring::shm::detail {

void install_fault_handler() noexcept;

// Runs fn(ctx); returns false if it faulted (its effects are then partial).
bool run_guarded(void (*fn)(void*), void* ctx) noexcept;

template <class F>
bool guarded(F&& f) noexcept {
  return run_guarded([](void* c) { (*static_cast<std::remove_reference_t<F>*>(c))(); }, &f);
}

}  // namespace spanring::shm::detail
