/* bench/sigsuspend_shim.c: LD_PRELOAD shim for running `almanac serve` under valgrind 3.19.
 *
 * Swift's async main parks the main thread in libdispatch's _dispatch_sigsuspend(), which calls
 * sigsuspend() with a pointer to a `static const sigset_t` (read-only memory). Valgrind 3.19
 * sanitizes the mask of rt_sigsuspend in place, writes into that read-only page and dies with
 * "VALGRIND INTERNAL ERROR: Valgrind received a signal 11". This shim passes a writable copy of
 * the mask instead; nothing else changes. bench/instructions.sh builds and preloads it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>

int sigsuspend(const sigset_t *mask) {
    static int (*real)(const sigset_t *);
    if (!real) real = (int (*)(const sigset_t *))dlsym(RTLD_NEXT, "sigsuspend");
    sigset_t copy = *mask;
    return real(&copy);
}
