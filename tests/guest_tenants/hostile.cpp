// A tenant that misbehaves on request: the path picks the attack. Used by
// the tests to trip every limit and fault path of the sandbox.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mtd_guest.h"

static char path[256];

static bool is(const char *p) { return std::strcmp(path, p) == 0; }

static void ok(const char *body) { mtd_respond(200, "text/plain", 10, body, std::strlen(body)); }

int main() {
    if (mtd_ready() != 0) return 0;  // nothing to attack outside mtd
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path ? n : sizeof path - 1] = '\0';

    if (is("/ok")) ok("fine\n");
    if (is("/loop")) for (volatile int i = 0;; i = i + 1) {}
    if (is("/malloc")) for (;;) { char *p = (char *)std::malloc(1 << 20); if (!p) ok("malloc gave up\n"); std::memset(p, 1, 1 << 20); }
    if (is("/null")) return *(volatile int *)nullptr;
    if (is("/wild")) return *(volatile int *)0xdead0000beefull;
    if (is("/write-code")) { *(volatile uint32_t *)(void *)&main = 0; ok("wrote code\n"); }
    if (is("/jump-data")) { static uint32_t data[4] = {0x00000013}; ((void (*)())(void *)data)(); }
    if (is("/illegal")) __asm__ volatile(".word 0xffffffff");
    if (is("/big")) { static char big[4 << 20]; std::memset(big, 'x', sizeof big); mtd_respond(200, "text/plain", 10, big, sizeof big); }
    if (is("/bad-pointer")) mtd_respond(200, "text/plain", 10, (const char *)0x10, 100);
    if (is("/exit")) std::exit(3);
    if (is("/abort")) std::abort();
    mtd_respond(404, "text/plain", 10, "no such attack\n", 15);
}
