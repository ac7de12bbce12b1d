// The natively run C library functions under the request limits. Mappings
// never written are the shared zero page, so a huge memcmp, memset or
// memmove over them costs no memory up front: only the instruction budget
// can stop it, and it must do so before the host does the work (a memset
// that had started would first hit the memory limit instead).
#include <sys/mman.h>

#include <cstring>

#include "mtd_guest.h"

static char path[64];

static void answer(const char* body) { mtd_respond(200, "text/plain", 10, body, std::strlen(body)); }

int main() {
    if (mtd_ready() != 0) return 0;
    size_t n = mtd_request_field(MTD_FIELD_PATH, path, sizeof path - 1);
    path[n < sizeof path ? n : sizeof path - 1] = '\0';

    const size_t size = 512u << 20;
    auto map = [&](int prot) {
        return static_cast<char*>(mmap(nullptr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    };
    char* a = map(PROT_READ);
    char* b = map(PROT_READ);
    char* w = map(PROT_READ | PROT_WRITE);
    if (a == MAP_FAILED || b == MAP_FAILED || w == MAP_FAILED) answer("mmap failed\n");

    if (!std::strcmp(path, "/small")) answer(std::memcmp(a, b, 1 << 20) == 0 ? "equal\n" : "different\n");
    if (!std::strcmp(path, "/memcmp")) answer(std::memcmp(a, b, size) == 0 ? "equal\n" : "different\n");
    if (!std::strcmp(path, "/memset")) { std::memset(w, 1, size); answer("set\n"); }
    if (!std::strcmp(path, "/memmove")) { std::memmove(w, a, size); answer("moved\n"); }
    answer("no such path\n");
}
