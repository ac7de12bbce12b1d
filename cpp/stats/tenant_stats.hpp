// Per-tenant request counters and latency histograms, one cache-line-aligned
// slot per worker thread. Only the owning worker writes its slot (plain
// load+store, no RMW, no lock); readers merge all slots. The counters are
// relaxed atomics so those concurrent reads are race-free without costing the
// writer anything on x86/ARM.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/outcome.hpp"
#include "stats/latency_histogram.hpp"
#include "stats/tier.hpp"

namespace mtd::stats {

// Number of sandbox::Outcome values (the enum is dense, starting at 0).
inline constexpr size_t kOutcomeCount = static_cast<size_t>(sandbox::Outcome::Overloaded) + 1;

// A counter written by exactly one thread and read by any.
class Counter {
public:
    void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

// A gauge written by exactly one thread (up and down) and read by any. The
// per-slot value may be negative in a merged read that is not a consistent
// cut; readers clamp the sum.
class Gauge {
public:
    void add(int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    int64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<int64_t> v_{0};
};

// The largest value seen, written by exactly one thread and read by any.
class Peak {
public:
    void note(uint64_t v) {
        if (v > v_.load(std::memory_order_relaxed)) v_.store(v, std::memory_order_relaxed);
    }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

// What a tenant's requests cost the platform (what it would be billed for),
// over every request that ran in its sandbox, failures included.
struct CostSnapshot {
    LatencySummary instructions;  // guest instructions per request (not ns)
    uint64_t copied_bytes = 0;    // pages copied-on-write, in bytes, all requests
    uint64_t peak_memory = 0;     // largest request_memory charge of one request, bytes
    uint64_t bytes_in = 0;        // request bodies received
    uint64_t bytes_out = 0;       // response bodies sent (mtd's error bodies included)
    // Of instructions.sum, those that ran as translated code (the second
    // execution tier), not in the interpreter.
    uint64_t translated_instructions = 0;
};

// Merged view of a tenant's counters at one moment (not a consistent cut:
// slots are read one after the other while workers keep counting).
struct Snapshot {
    uint64_t requests = 0;
    std::array<uint64_t, 4> status{};  // 2xx, 3xx, 4xx, 5xx
    std::array<uint64_t, kOutcomeCount> errors{};  // sandbox failures by Outcome
    uint64_t sandbox_ns = 0;  // total time in the sandbox (sandbox_latency's sum)
    uint64_t in_flight = 0;   // requests inside the handler right now
    uint64_t parked = 0;      // requests that outlasted their first time slice
    uint64_t log_dropped = 0;  // guest output bytes dropped by the log rate limit
    LatencySummary latency;          // whole request, ns
    LatencySummary sandbox_latency;  // sandbox run alone, ns
    CostSnapshot cost;
    Tier tier = Tier::None;
};

// The name the server lists requests that matched no tenant under (404s
// without a default tenant). Not a valid tenant name (engine/tenants.py).
inline constexpr const char* kNoTenant = "(no tenant)";

// Guest pages are 4 KiB: copied bytes are reported as pages.
inline constexpr uint64_t kPageBytes = 4096;

// Snapshots by tenant name; the server lists the unrouted requests first,
// under kNoTenant.
using NamedSnapshots = std::vector<std::pair<std::string, Snapshot>>;

// One worker's counters. Aligned so two workers never share a cache line.
// About 12.5 KiB, nearly all of it the three histograms.
struct alignas(64) Slot {
    Counter requests;
    std::array<Counter, 4> status;
    std::array<Counter, kOutcomeCount> errors;
    Gauge in_flight;
    Counter parked;  // see Snapshot::parked
    // From the sandbox start (the handler has routed the request and copied
    // its headers: tens of ns) to the response handed to H2O.
    SharedHistogram latency;
    // machine.handle() alone: fork, guest run, copy-out. Its sum is the
    // total time in the sandbox.
    SharedHistogram sandbox_latency;
    // Cost (CostSnapshot): one sample per request that ran in the sandbox.
    SharedHistogram instructions;
    Counter copied_bytes, bytes_in, bytes_out, translated_instructions;
    Peak peak_memory;

    // Counts an answered request by its HTTP status class (1xx is not sent).
    void count_status(int http_status) {
        int cls = http_status / 100 - 2;
        if (cls >= 0 && cls < 4) status[cls].add();
    }
    void count_failure(sandbox::Outcome o) { errors[static_cast<size_t>(o)].add(); }
};

class TenantStats {
public:
    explicit TenantStats(size_t worker_count);

    // The calling worker's own slot; worker ids are 0..worker_count-1.
    Slot& slot(size_t worker) { return slots_[worker]; }
    size_t worker_count() const { return count_; }

    // Merges the slots. Percentiles need a pass over every bucket of every
    // slot, so they are cached and recomputed only when some slot recorded a
    // sample since the last read: an idle tenant costs a few loads per slot.
    Snapshot snapshot() const;

    // Set by the engine whenever the tier moves (any thread; rare).
    void set_tier(Tier t) { tier_.store(t, std::memory_order_relaxed); }

private:
    std::atomic<Tier> tier_{Tier::None};
    size_t count_;
    std::unique_ptr<Slot[]> slots_;

    // Read side only (never touched by workers).
    mutable std::mutex cache_mu_;
    mutable uint64_t cached_samples_ = ~uint64_t{0};
    mutable LatencySummary cached_latency_, cached_sandbox_, cached_instructions_;
};

}  // namespace mtd::stats
