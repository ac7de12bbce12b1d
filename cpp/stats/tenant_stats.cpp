#include "stats/tenant_stats.hpp"

#include <algorithm>

namespace mtd::stats {

TenantStats::TenantStats(size_t worker_count)
    : count_(worker_count ? worker_count : 1), slots_(std::make_unique<Slot[]>(count_)) {}

Snapshot TenantStats::snapshot() const {
    Snapshot s;
    int64_t in_flight = 0;
    uint64_t samples = 0;
    for (size_t i = 0; i < count_; ++i) {
        const Slot& slot = slots_[i];
        // Statuses before requests: both only grow and requests is bumped
        // first, so requests >= the sum of the classes in what we return.
        for (size_t k = 0; k < s.status.size(); ++k) s.status[k] += slot.status[k].get();
        s.requests += slot.requests.get();
        for (size_t k = 0; k < s.errors.size(); ++k) s.errors[k] += slot.errors[k].get();
        in_flight += slot.in_flight.get();
        s.parked += slot.parked.get();
        samples += slot.latency.count() + slot.sandbox_latency.count() + slot.instructions.count();
        s.cost.copied_bytes += slot.copied_bytes.get();
        s.cost.bytes_in += slot.bytes_in.get();
        s.cost.bytes_out += slot.bytes_out.get();
        s.cost.translated_instructions += slot.translated_instructions.get();
        s.cost.peak_memory = std::max(s.cost.peak_memory, slot.peak_memory.get());
    }
    s.in_flight = in_flight > 0 ? uint64_t(in_flight) : 0;
    s.tier = tier_.load(std::memory_order_relaxed);

    std::lock_guard lock(cache_mu_);
    // Counts only grow, so an unchanged total means no slot recorded.
    if (samples != cached_samples_) {
        cached_latency_ = SharedHistogram::summarize(count_, [&](size_t i) -> auto& { return slots_[i].latency; });
        cached_sandbox_ =
            SharedHistogram::summarize(count_, [&](size_t i) -> auto& { return slots_[i].sandbox_latency; });
        cached_instructions_ =
            SharedHistogram::summarize(count_, [&](size_t i) -> auto& { return slots_[i].instructions; });
        cached_samples_ = samples;
    }
    s.latency = cached_latency_;
    s.sandbox_latency = cached_sandbox_;
    s.sandbox_ns = cached_sandbox_.sum;
    s.cost.instructions = cached_instructions_;
    return s;
}

}  // namespace mtd::stats
