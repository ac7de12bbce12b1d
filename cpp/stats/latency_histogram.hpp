// Log-linear histograms of durations in nanoseconds: 32 sub-buckets per power
// of two, so any percentile is within ~3% of the true value. Fixed size, no
// allocation.
//
// Two flavours share the bucket layout (HistogramLayout):
//  - LatencyHistogram: plain uint64 counts, for single-threaded use and for
//    merged copies (the load generator, the read side of the server stats).
//  - SharedHistogram: written by exactly one thread and read by any. Counts
//    are relaxed atomics updated with load+store (no RMW: only the owner
//    writes), so concurrent reads are race-free and recording costs the
//    writer nothing more than plain increments. Buckets are uint32 and the
//    range stops at 2^35 ns (~34 s) to keep one histogram at 4 KiB: the
//    server keeps two per tenant per worker thread, and 1,000 tenants must
//    stay cheap to hold and to read. A bucket saturates instead of wrapping
//    (4.29e9 samples in one bucket of one thread, ~12 h at 100k req/s), so a
//    very long run skews percentiles slightly rather than corrupting them.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <limits>

namespace mtd::stats {

struct HistogramLayout {
    static constexpr int kSubBits = 5;
    static constexpr int kSub = 1 << kSubBits;
    static constexpr int kMaxBit = 35;  // ~34 s; larger values land in the last bucket (max is exact)
    static constexpr int kBuckets = (kMaxBit - kSubBits + 2) * kSub;  // 1024

    static int index_of(uint64_t ns) {
        if (ns < 2 * kSub) return int(ns);
        int msb = std::min(63 - std::countl_zero(ns), kMaxBit);
        uint64_t sub = std::min<uint64_t>(ns >> (msb - kSubBits), 2 * kSub - 1);
        return (msb - kSubBits + 1) * kSub + int(sub - kSub);
    }

    static uint64_t lower_bound(int index) {
        if (index < 2 * kSub) return uint64_t(index);
        int group = index >> kSubBits;
        return uint64_t((index & (kSub - 1)) + kSub) << (group - 1);
    }
};

// The summary every consumer shows: nanoseconds (or, for the instruction
// histogram, instructions). A percentile is the middle of its bucket kept
// within [min, max], so samples that are all equal report that value exactly.
struct LatencySummary {
    uint64_t count = 0, sum = 0;
    uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, min = 0;
    double mean = 0;
};

class LatencyHistogram : public HistogramLayout {
public:
    void record(uint64_t ns) {
        ++counts_[index_of(ns)];
        ++count_;
        sum_ += ns;
        max_ = std::max(max_, ns);
        min_ = std::min(min_, ns);
    }

    void merge(const LatencyHistogram& other) {
        for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        count_ += other.count_;
        sum_ += other.sum_;
        max_ = std::max(max_, other.max_);
        min_ = std::min(min_, other.min_);
    }

    void reset() { *this = LatencyHistogram{}; }

    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }
    double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }

    // The value below which a fraction q (0..1) of the samples fall: the
    // middle of the bucket holding that rank, capped at the maximum seen.
    uint64_t percentile(double q) const {
        const double qs[1] = {q};
        uint64_t out[1];
        percentiles(qs, out, 1);
        return out[0];
    }

    // Several percentiles in one pass over the buckets; qs ascending.
    void percentiles(const double* qs, uint64_t* out, int n) const {
        // Ranks come from the buckets' own total: with saturated counters
        // (see SharedHistogram) it can fall short of count_.
        uint64_t total = 0;
        for (int i = 0; i < kBuckets; ++i) total += counts_[i];
        int k = 0;
        if (total == 0) {
            for (; k < n; ++k) out[k] = 0;
            return;
        }
        uint64_t seen = 0;
        for (int i = 0; i < kBuckets && k < n; ++i) {
            seen += counts_[i];
            while (k < n && seen >= uint64_t(qs[k] * double(total - 1)) + 1) {
                out[k++] = std::clamp((lower_bound(i) + lower_bound(i + 1)) / 2, std::min(min_, max_), max_);
            }
        }
        for (; k < n; ++k) out[k] = max_;
    }

    LatencySummary summary() const {
        static constexpr double qs[4] = {0.5, 0.9, 0.99, 0.999};
        uint64_t p[4];
        percentiles(qs, p, 4);
        return {count_, sum_, p[0], p[1], p[2], p[3], max_, count_ ? min_ : 0, mean()};
    }

private:
    friend class SharedHistogram;
    std::array<uint64_t, kBuckets> counts_{};
    uint64_t count_ = 0, sum_ = 0, max_ = 0, min_ = ~uint64_t{0};
};

class SharedHistogram : public HistogramLayout {
public:
    // Owner thread only.
    void record(uint64_t ns) {
        auto& c = counts_[index_of(ns)];
        uint32_t v = c.load(std::memory_order_relaxed);
        if (v != std::numeric_limits<uint32_t>::max()) c.store(v + 1, std::memory_order_relaxed);
        sum_.store(sum_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
        if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
        if (ns < min_.load(std::memory_order_relaxed)) min_.store(ns, std::memory_order_relaxed);
        // count_ last: a reader that sees it move knows the buckets did.
        count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }

    // Any thread. Not a consistent cut: samples recorded meanwhile may be
    // partly included.
    uint64_t count() const { return count_.load(std::memory_order_acquire); }

    void add_to(LatencyHistogram& h) const {
        h.count_ += count();
        for (int i = 0; i < kBuckets; ++i) h.counts_[i] += counts_[i].load(std::memory_order_relaxed);
        h.sum_ += sum_.load(std::memory_order_relaxed);
        h.max_ = std::max(h.max_, max_.load(std::memory_order_relaxed));
        h.min_ = std::min(h.min_, min_.load(std::memory_order_relaxed));
    }

    // The summary of `n` histograms merged, without materialising the merge:
    // one pass over the buckets that stops at the bucket holding p99.9, which
    // for request latencies is a third of the way up the range. This is what
    // keeps stats() cheap with many busy tenants.
    template <class Get>  // Get(i) -> const SharedHistogram&
    static LatencySummary summarize(size_t n, Get get) {
        LatencySummary s;
        uint64_t min = ~uint64_t{0};
        for (size_t k = 0; k < n; ++k) {
            const SharedHistogram& h = get(k);
            s.count += h.count();
            s.sum += h.sum_.load(std::memory_order_relaxed);
            s.max = std::max(s.max, h.max_.load(std::memory_order_relaxed));
            min = std::min(min, h.min_.load(std::memory_order_relaxed));
        }
        if (s.count == 0) return s;
        s.min = std::min(min, s.max);
        s.mean = double(s.sum) / double(s.count);
        static constexpr double qs[4] = {0.5, 0.9, 0.99, 0.999};
        uint64_t* out[4] = {&s.p50, &s.p90, &s.p99, &s.p999};
        // Buckets written after count was read can only move a rank later;
        // a saturated bucket (see above) can leave a rank unreached: then
        // it reports the maximum.
        int q = 0;
        uint64_t seen = 0;
        for (int i = 0; i < kBuckets && q < 4; ++i) {
            for (size_t k = 0; k < n; ++k) seen += get(k).counts_[i].load(std::memory_order_relaxed);
            while (q < 4 && seen >= uint64_t(qs[q] * double(s.count - 1)) + 1)
                *out[q++] = std::clamp((lower_bound(i) + lower_bound(i + 1)) / 2, s.min, s.max);
        }
        for (; q < 4; ++q) *out[q] = s.max;
        return s;
    }

private:
    // Scalars first: next to the Slot's counters, so an idle-tenant read
    // that only looks at count() touches fewer cache lines.
    std::atomic<uint64_t> count_{0}, sum_{0}, max_{0}, min_{~uint64_t{0}};
    std::array<std::atomic<uint32_t>, kBuckets> counts_{};
};

}  // namespace mtd::stats
