// Per-tenant resource limits. Defaults follow the seed: 2,000,000
// instructions and 64 MB of memory per request.
#pragma once
#include <cstdint>

namespace mtd::sandbox {

struct Limits {
    uint64_t request_instructions = 2'000'000;
    // glibc start-up plus on_init; generous because it runs once per load.
    uint64_t init_instructions = 2'000'000'000;
    // Bytes of guest pages a request may copy (copy-on-write) or newly map.
    uint64_t request_memory = 64ull << 20;
    // Guest memory of the whole machine (ELF, heap, stack, mmap) at init.
    uint64_t init_memory = 256ull << 20;
    // Content type plus body bytes a response may carry.
    uint64_t response_bytes = 16ull << 20;
};

}  // namespace mtd::sandbox
