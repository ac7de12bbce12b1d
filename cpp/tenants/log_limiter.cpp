#include "tenants/log_limiter.hpp"

#include <algorithm>

#include "common/monotonic_ns.hpp"

namespace mtd::tenants {

LogLimiter::LogLimiter(LogLimit limit)
    : limit_(limit),
      ns_per_byte_(1e9 / std::max(limit.bytes_per_second, 1.0)),
      burst_ns_(uint64_t(std::max(limit.burst_bytes, 1.0) * (1e9 / std::max(limit.bytes_per_second, 1.0)))) {}

LogLimiter::Verdict LogLimiter::admit(size_t bytes) {
    const uint64_t now = monotonic_ns();
    const uint64_t cost = uint64_t(double(bytes + kChunkCost) * ns_per_byte_);
    uint64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
        uint64_t next = std::max(tat, now) + cost;
        if (next > now + burst_ns_) break;
        if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return Verdict::Admit;
    }
    dropped_.fetch_add(bytes, std::memory_order_relaxed);
    uint64_t last = last_notice_.load(std::memory_order_relaxed);
    if ((last == 0 || now - last >= kNoticeIntervalNs) &&
        last_notice_.compare_exchange_strong(last, now, std::memory_order_relaxed))
        return Verdict::DropStarted;
    return Verdict::Drop;
}

}  // namespace mtd::tenants
