// A C++ tenant that works the guest allocator (engine/guest/mtd_malloc.c)
// the way tenant code does: containers, strings, aligned new, and blocks
// made during on_init that each request frees and reuses. Every request
// computes the same digest; a wrong one or a crash means the allocator broke.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mtd_guest.h"

namespace {

struct alignas(128) Wide {
    std::uint64_t words[20];
};

std::vector<std::string> *kept;
const unsigned char zeros[400000] = {};  // made in on_init, freed by each request

std::uint64_t mix(std::uint64_t h, std::uint64_t v) { return (h ^ v) * 0x100000001b3u; }

std::uint64_t work() {
    std::uint64_t h = 0xcbf29ce484222325u, x = 88172645463325252u;
    auto next = [&x] { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };

    for (const std::string &s : *kept) h = mix(h, s.size() + static_cast<unsigned char>(s.back()));
    delete kept;  // the init-time blocks go back onto the free lists

    std::map<std::uint64_t, std::string> map;
    std::vector<std::unique_ptr<Wide>> wides;
    std::vector<std::vector<std::uint32_t>> vectors(64);
    for (int i = 0; i < 2000; i++) {
        std::uint64_t r = next();
        switch (r % 6) {
        case 0: map[r % 512] = std::string(r % 300, static_cast<char>('a' + r % 26)); break;
        case 1: map.erase(r % 512); break;
        case 2: vectors[r % 64].push_back(static_cast<std::uint32_t>(r)); break;
        case 3: vectors[r % 64].clear(); vectors[r % 64].shrink_to_fit(); break;
        case 4: {
            auto w = std::make_unique<Wide>();
            if (reinterpret_cast<std::uintptr_t>(w.get()) % alignof(Wide)) std::abort();
            w->words[r % 20] = r;
            wides.push_back(std::move(w));
            break;
        }
        default:
            if (!wides.empty()) wides.erase(wides.begin() + static_cast<long>(r % wides.size()));
        }
    }
    for (auto &[k, v] : map) h = mix(mix(h, k), v.size());
    for (auto &v : vectors)
        for (auto e : v) h = mix(h, e);
    for (auto &w : wides)
        for (auto word : w->words) h = mix(h, word);
    // A block beyond every size class, and realloc across classes.
    std::vector<char> big(300000, 'x');
    h = mix(h, static_cast<std::uint64_t>(big[299999]));
    char *grown = static_cast<char *>(std::malloc(1));
    grown[0] = 0;
    for (std::size_t size = 1, n = 2; n < 100000; size = n, n = n * 3 / 2 + 1) {
        grown = static_cast<char *>(std::realloc(grown, n));
        for (std::size_t i = size; i < n; i++) grown[i] = static_cast<char>(i * 7);
        for (std::size_t i = 0; i < n; i += 97)
            if (grown[i] != static_cast<char>(i * 7)) std::abort();
        h = mix(h, static_cast<unsigned char>(grown[n / 2]));
    }
    std::free(grown);
    // calloc'd blocks are zero in every request, recycled, carved from the
    // bump region, or from memory the heap grew by during this request; they
    // are left dirty and unfreed, so a leak into the next request would show.
    for (std::size_t n : {24, 1000, 5000, 70000, 200000, 250000, 400000}) {
        auto *zeroed = static_cast<unsigned char *>(std::calloc(n, 1));
        if (std::memcmp(zeroed, zeros, n) != 0) std::abort();  // memcmp runs natively: cheap
        std::memset(zeroed, 0xff, n);
        h = mix(h, n);
    }
    return h;
}

}  // namespace

int main() {
    kept = new std::vector<std::string>;
    for (int i = 0; i < 200; i++) kept->push_back(std::string(static_cast<std::size_t>(i % 90 + 1), 'k'));
    bool standalone = mtd_ready() != 0;  // run outside mtd (qemu): one request

    char body[64];
    int length = std::snprintf(body, sizeof body, "%016llx\n",
                               static_cast<unsigned long long>(work()));
    if (standalone) {
        std::fwrite(body, 1, length, stdout);
        return 0;
    }
    mtd_respond(200, "text/plain", 10, body, length);
}
