// Per-tenant request counters, one cache-line-aligned slot per worker thread.
// Only the owning worker writes its slot (plain load+store, no RMW, no lock);
// readers sum all slots. The counters are relaxed atomics so those concurrent
// reads are race-free without costing the writer anything on x86/ARM.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "sandbox/outcome.hpp"

namespace mtd::stats {

// Number of sandbox::Outcome values (the enum is dense, starting at 0).
inline constexpr size_t kOutcomeCount = static_cast<size_t>(sandbox::Outcome::NoResponse) + 1;

// A counter written by exactly one thread and read by any.
class Counter {
public:
    void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

// Merged view of a tenant's counters at one moment (not a consistent cut:
// slots are read one after the other while workers keep counting).
struct Snapshot {
    uint64_t requests = 0;
    std::array<uint64_t, 4> status{};  // 2xx, 3xx, 4xx, 5xx
    std::array<uint64_t, kOutcomeCount> errors{};  // sandbox failures by Outcome
    uint64_t sandbox_ns = 0;

    Snapshot& operator+=(const Snapshot& o);
};

// One worker's counters. Aligned so two workers never share a cache line.
// A latency histogram belongs here too (same ownership rules).
struct alignas(64) Slot {
    Counter requests;
    std::array<Counter, 4> status;
    std::array<Counter, kOutcomeCount> errors;
    Counter sandbox_ns;

    // Counts an answered request by its HTTP status class (1xx is not sent).
    void count_status(int http_status) {
        int cls = http_status / 100 - 2;
        if (cls >= 0 && cls < 4) status[cls].add();
    }
    void count_failure(sandbox::Outcome o) { errors[static_cast<size_t>(o)].add(); }
    void add_to(Snapshot& s) const;
};

class TenantStats {
public:
    explicit TenantStats(size_t worker_count);

    // The calling worker's own slot; worker ids are 0..worker_count-1.
    Slot& slot(size_t worker) { return slots_[worker]; }
    size_t worker_count() const { return count_; }
    Snapshot snapshot() const;

private:
    size_t count_;
    std::unique_ptr<Slot[]> slots_;
};

}  // namespace mtd::stats
