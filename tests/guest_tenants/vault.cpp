// The neighbour with something to lose: a secret in a global, on the heap and
// on the stack, written at init. "/where" tells anyone where they are (so an
// attacker can aim at those addresses); every other path answers the three
// secrets as this request sees them. Used by tests/test_limits.py.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mtd_guest.h"

#define SECRET "vault-secret-0451"

static char global_secret[64];

int main() {
    char stack_secret[64];
    char *heap_secret = static_cast<char *>(std::malloc(64));
    std::strcpy(global_secret, SECRET "-global");
    std::strcpy(heap_secret, SECRET "-heap");
    std::strcpy(stack_secret, SECRET "-stack");
    if (mtd_ready() != 0) return 0;
    char path[64];
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path ? n : sizeof path - 1] = '\0';
    char body[256];
    int len;
    if (std::strcmp(path, "/where") == 0)
        len = std::snprintf(body, sizeof body, "%lx %lx %lx\n", (unsigned long)global_secret,
                            (unsigned long)heap_secret, (unsigned long)stack_secret);
    else
        len = std::snprintf(body, sizeof body, "%s %s %s\n", global_secret, heap_secret, stack_secret);
    mtd_respond(200, "text/plain", 10, body, len);
}
