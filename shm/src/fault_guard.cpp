#include "fault_guard.hpp"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>

#include <atomic>

namespace spanring::shm::detail {

namespace {

// The innermost active guard of this thread. A plain pointer with static initialisation, so
// reading it from the handler needs no TLS constructor.
thread_local sigjmp_buf* t_guard = nullptr;

struct sigaction g_previous;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  if (sigjmp_buf* jb = t_guard) siglongjmp(*jb, 1);
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if ((g_previous.sa_flags & SA_SIGINFO) == 0 && g_previous.sa_handler != SIG_DFL &&
      g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  // A fault re-executes the instruction on return and dies of the default action; a SIGBUS
  // sent with kill() needs the re-raise. SA_NODEFER: it is not blocked here.
  raise(sig);
}

}  // namespace

void install_fault_handler() noexcept {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    return sigaction(SIGBUS, &sa, &g_previous) == 0;
  }();
  static_cast<void>(installed);
}

bool run_guarded(void (*fn)(void*), void* ctx) noexcept {
  sigjmp_buf jb;
  sigjmp_buf* const outer = t_guard;
  if (sigsetjmp(jb, 0) != 0) {
    t_guard = outer;
    // SA_NODEFER keeps SIGBUS unblocked after the jump, but a wrapper between the kernel and
    // our handler (TSan's) may install it without that flag; a fault while SIGBUS is blocked
    // kills the process. Unblocking here costs a syscall on the (rare) fault path only.
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &bus, nullptr);
    return false;
  }
  t_guard = &jb;
  // The handler runs on this thread: a compiler barrier orders the stores around the region.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fn(ctx);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_guard = outer;
  return true;
}

}  // namespace spanring::shm::detail
