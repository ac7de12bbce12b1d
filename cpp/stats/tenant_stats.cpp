#include "stats/tenant_stats.hpp"

namespace mtd::stats {

Snapshot& Snapshot::operator+=(const Snapshot& o) {
    requests += o.requests;
    for (size_t i = 0; i < status.size(); ++i) status[i] += o.status[i];
    for (size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
    sandbox_ns += o.sandbox_ns;
    return *this;
}

void Slot::add_to(Snapshot& s) const {
    s.requests += requests.get();
    for (size_t i = 0; i < status.size(); ++i) s.status[i] += status[i].get();
    for (size_t i = 0; i < errors.size(); ++i) s.errors[i] += errors[i].get();
    s.sandbox_ns += sandbox_ns.get();
}

TenantStats::TenantStats(size_t worker_count)
    : count_(worker_count ? worker_count : 1), slots_(std::make_unique<Slot[]>(count_)) {}

Snapshot TenantStats::snapshot() const {
    Snapshot s;
    for (size_t i = 0; i < count_; ++i) slots_[i].add_to(s);
    return s;
}

}  // namespace mtd::stats
