// Ctrl-C (SIGINT) and SIGTERM during a long command: the first one only records the
// signal, which the run's cancel hook reports before its next denoiser call, so that the
// batch being written is finished and committed (its PNGs and shard) and nothing partial
// or temporary is left; a second one ends the process at once (the default action).
// The handler stays until the process exits: restoring the default after the outputs
// were written would let a late SIGTERM kill a complete run with status 143.
#include <signal.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t caught;

static void on_signal(int sig) {
    caught = sig;
    signal(sig, SIG_DFL); // a second Ctrl-C is not ignored
}

void cli_interrupt_install(void) {
    caught = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; // the writes under way go on
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void *user) {
    (void)user;
    return caught != 0;
}

int cli_interrupt_signal(void) {
    return caught;
}
