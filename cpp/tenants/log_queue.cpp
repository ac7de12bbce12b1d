#include "tenants/log_queue.hpp"

namespace mtd::tenants {

void LogQueue::push(std::string_view tenant, std::string_view text) {
    // Build the entry before taking the lock to keep the critical section short.
    LogEntry e{std::string(tenant), std::string(text)};
    std::lock_guard lock(mu_);
    if (entries_.size() >= capacity_) {
        entries_.pop_front();
        dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    entries_.push_back(std::move(e));
}

std::vector<LogEntry> LogQueue::drain(size_t max) {
    std::vector<LogEntry> out;
    std::lock_guard lock(mu_);
    size_t n = std::min(max, entries_.size());
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        out.push_back(std::move(entries_.front()));
        entries_.pop_front();
    }
    return out;
}

}  // namespace mtd::tenants
