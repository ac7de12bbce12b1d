// A tenant that answers whatever the request tells it to, for the framing
// tests (tests/test_response_framing.py): the request header
//
//     x-answer: <status> <content type, hex> <body, hex>
//
// picks the status (any 64-bit value: it goes to the host in a0 as is, past
// mtd_respond's int) and the exact bytes of the content type and the body,
// CR, LF and NUL included; "-" stands for no bytes. A header and not the path, so that any method
// can ask, CONNECT included (its target is host:port, with no query). No
// x-answer header: 200, text/plain, "framing tenant\n".
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "mtd_guest.h"

static char headers[16384];
static char content_type[4096];
static char body[8192];

[[noreturn]] static void respond_raw(int64_t status, const char *type, size_t type_len, const char *data,
                                     size_t data_len) {
    register long a0 __asm__("a0") = status;
    register long a1 __asm__("a1") = reinterpret_cast<long>(type);
    register long a2 __asm__("a2") = static_cast<long>(type_len);
    register long a3 __asm__("a3") = reinterpret_cast<long>(data);
    register long a4 __asm__("a4") = static_cast<long>(data_len);
    register long a7 __asm__("a7") = MTD_ECALL_RESPOND;
    __asm__ volatile("ecall" : : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a7) : "memory");
    __builtin_unreachable();
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes hex digits from `p` up to a space, newline or the end into `out`
// ("-": none); returns the byte count and moves `p` past them.
static size_t unhex(const char *&p, char *out, size_t capacity) {
    size_t n = 0;
    if (*p == '-') ++p;
    while (n < capacity) {
        const int hi = hex_digit(p[0]);
        if (hi < 0) break;
        const int lo = hex_digit(p[1]);
        if (lo < 0) break;
        out[n++] = static_cast<char>(hi * 16 + lo);
        p += 2;
    }
    return n;
}

int main() {
    if (mtd_ready() != 0) return 0;
    const size_t len = mtd_request_field(MTD_FIELD_HEADERS, headers, sizeof headers - 1);
    headers[len < sizeof headers ? len : sizeof headers - 1] = '\0';
    const char *p = std::strstr(headers, "x-answer: ");
    if (!p) respond_raw(200, "text/plain", 10, "framing tenant\n", 15);
    p += std::strlen("x-answer: ");
    char *end;
    const int64_t status = std::strtoll(p, &end, 10);  // saturates: huge values stay huge
    p = end;
    if (*p == ' ') ++p;
    const size_t type_len = unhex(p, content_type, sizeof content_type);
    if (*p == ' ') ++p;
    const size_t body_len = unhex(p, body, sizeof body);
    respond_raw(status, content_type, type_len, body, body_len);
}
