// What tenants print (stdout/stderr of the guest), queued for the Python
// side to drain. Bounded: when full the oldest entry is dropped and counted,
// so a chatty guest can neither grow memory nor block a worker for long.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mtd::tenants {

struct LogEntry {
    std::string tenant;
    std::string text;  // as the guest wrote it (a chunk, not necessarily a line)
};

class LogQueue {
public:
    explicit LogQueue(size_t capacity = 10000) : capacity_(capacity ? capacity : 1) {}

    // Called from any thread (loading thread during init, workers during requests).
    void push(std::string_view tenant, std::string_view text);
    // Removes and returns up to `max` entries, oldest first.
    std::vector<LogEntry> drain(size_t max);
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    const size_t capacity_;
    std::mutex mu_;
    std::deque<LogEntry> entries_;
    std::atomic<uint64_t> dropped_{0};
};

}  // namespace mtd::tenants
