// Two tenants built from this source, "unset" replaced by a different secret
// in each: each
// writes its secret into the same global at init; a request answers the
// global's address and contents, so the tests can check that the same guest
// address holds each tenant's own data (no shared writable page).
#include <cstdio>
#include <cstring>

#include "mtd_guest.h"

static char secret[64];

int main() {
    std::strcpy(secret, "unset");
    if (mtd_ready() != 0) return 0;
    char body[128];
    int n = std::snprintf(body, sizeof body, "%p %s\n", (void *)secret, secret);
    std::strcpy(secret, "overwritten by a request");
    mtd_respond(200, "text/plain", 10, body, n);
}
