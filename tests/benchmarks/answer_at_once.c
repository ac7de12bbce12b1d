/* The cheapest tenant there is: it answers every request with the hello
 * tenant's bytes at once, without running any code of its own. Its cost per
 * request is the sandbox's floor (fork, one respond ecall, copy-out and
 * teardown); whatever the hello tenant costs above it is its guest code and
 * the memory that code writes. Built by bench_sandbox.py without a C
 * library, so the fork has almost nothing to map either. */
#include "mtd_guest.h"

static const char kType[] = "text/plain";
static const char kPage[] =
    "\tthis is a very\n\tlong string if I had the\n\tenergy to type more and more ...\n";

void _start(void) {
    mtd_ready();
    mtd_respond(200, kType, sizeof kType - 1, kPage, sizeof kPage - 1);
}
