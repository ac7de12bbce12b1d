// Per-tenant rate limit on guest output, applied before anything reaches the
// shared LogQueue: a tenant printing in a loop would otherwise take the
// queue's lock and allocate on every write, evict the other tenants' lines
// and slow every worker down with it.
//
// A token bucket of bytes, kept as one atomic "theoretical arrival time"
// (GCRA): admitting n bytes pushes it n/rate seconds further; a write is
// refused if that would put it more than burst/rate seconds ahead of now.
// Lock-free, and wait-free for the common uncontended case. Each write is
// charged its length plus kChunkCost, so a guest writing one byte at a time
// is limited in entries, not just bytes.
#pragma once
#include <atomic>
#include <cstdint>
#include <string_view>

namespace mtd::tenants {

struct LogLimit {
    double bytes_per_second = 64 * 1024;
    double burst_bytes = 256 * 1024;
};

class LogLimiter {
public:
    static constexpr uint64_t kChunkCost = 64;

    explicit LogLimiter(LogLimit limit = {});

    // At most one DropStarted per this interval: a tenant that keeps
    // printing alternates admitted and dropped writes, and the notice must
    // not become a flood of its own.
    static constexpr uint64_t kNoticeIntervalNs = 10'000'000'000;

    // Whether a write of `bytes` may go to the log. Any thread. A refused
    // write is counted in dropped_bytes(); a refusal returns DropStarted
    // instead of Drop when no notice was due for kNoticeIntervalNs, so the
    // caller can say (rarely) that output is being dropped.
    enum class Verdict { Admit, Drop, DropStarted };
    Verdict admit(size_t bytes);

    uint64_t dropped_bytes() const { return dropped_.load(std::memory_order_relaxed); }
    const LogLimit& limit() const { return limit_; }

private:
    const LogLimit limit_;
    const double ns_per_byte_;
    const uint64_t burst_ns_;
    std::atomic<uint64_t> tat_{0};  // ns on CLOCK_MONOTONIC
    std::atomic<uint64_t> dropped_{0};
    std::atomic<uint64_t> last_notice_{0};  // ns; 0 = never
};

}  // namespace mtd::tenants
