// Shows that requests are ephemeral: every request increments a global
// counter and a heap value, yet every answer is 1, because each request runs
// in a fresh fork of the machine as it was after initialisation.
//
// Written in C++ against the tenant ABI because Pythran treats module-level
// names as constants, so a Python tenant cannot mutate a global.
#include <cstdio>
#include <cstdlib>

#include "mtd_guest.h"

static long counter = 0;
static long *heap_counter = nullptr;

int main() {
    heap_counter = static_cast<long *>(std::calloc(1, sizeof(long)));
    bool standalone = mtd_ready() != 0;  // run outside mtd (qemu): one request

    counter += 1;
    *heap_counter += 1;
    char body[64];
    int length = std::snprintf(body, sizeof body, "%ld %ld\n", counter, *heap_counter);
    if (standalone) {
        std::fwrite(body, 1, length, stdout);
        return 0;
    }
    mtd_respond(200, "text/plain", 10, body, length);
}
