// Log-linear histogram of durations in nanoseconds: 32 sub-buckets per power
// of two, so any percentile is within ~3% of the true value. Fixed size, no
// allocation; one owner records, and copies are merged when read.
#pragma once
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace mtd::stats {

class LatencyHistogram {
public:
    static constexpr int kSubBits = 5;
    static constexpr int kSub = 1 << kSubBits;
    static constexpr int kMaxBit = 47;  // ~39 hours; larger values land in the last bucket
    static constexpr int kBuckets = (kMaxBit - kSubBits + 2) * kSub;

    void record(uint64_t ns) {
        ++counts_[index_of(ns)];
        ++count_;
        sum_ += ns;
        max_ = std::max(max_, ns);
    }

    void merge(const LatencyHistogram& other) {
        for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        count_ += other.count_;
        sum_ += other.sum_;
        max_ = std::max(max_, other.max_);
    }

    void reset() { *this = LatencyHistogram{}; }

    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }
    double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }

    // The value below which a fraction q (0..1) of the samples fall: the
    // middle of the bucket holding that rank, capped at the maximum seen.
    uint64_t percentile(double q) const {
        if (count_ == 0) return 0;
        uint64_t rank = uint64_t(q * double(count_ - 1)) + 1, seen = 0;
        for (int i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(max_, (lower_bound(i) + lower_bound(i + 1)) / 2);
        }
        return max_;
    }

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

private:
    std::array<uint64_t, kBuckets> counts_{};
    uint64_t count_ = 0, sum_ = 0, max_ = 0;
};

}  // namespace mtd::stats
