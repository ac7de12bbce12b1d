// A tenant whose every request costs the same: it reads nothing from the
// request and answers a constant body, so the guest instructions of one
// request, measured once with mtd._core.Machine, are what the server must
// report as its p50, p99 and max (tests/test_cost.py). /touch writes 64 KiB
// of fresh heap, so a request is charged memory and copies pages.
#include <cstring>

#include "mtd_guest.h"

static char scratch[64 * 1024];

int main() {
    mtd_ready();
    char path[16];
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path);
    if (n == 6 && std::memcmp(path, "/touch", 6) == 0) {
        std::memset(scratch, 1, sizeof scratch);
        mtd_respond(200, "text/plain", 10, "touched\n", 8);
    }
    mtd_respond(200, "text/plain", 10, "fixed cost\n", 11);
}
