// Prometheus text exposition format (version 0.0.4) of the server's stats,
// for the admin listener's /metrics.
#pragma once
#include <cstdint>
#include <string>

#include "stats/tenant_stats.hpp"

namespace mtd::stats {

// Server-wide values that belong to no tenant.
struct ServerTotals {
    uint64_t log_queue_dropped = 0;  // log entries evicted from the full queue
};

// Content-Type of what format_prometheus() writes.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Counters: mtd_requests_total{tenant}, mtd_responses_total{tenant,class},
// mtd_sandbox_errors_total{tenant,kind}, mtd_sandbox_seconds_total{tenant},
// mtd_log_dropped_bytes_total{tenant}, mtd_log_queue_dropped_total.
// Gauge: mtd_in_flight{tenant}. Latency as summaries in seconds
// (quantiles 0.5/0.9/0.99/0.999 over the tenant's lifetime, plus _sum and
// _count): mtd_request_duration_seconds and mtd_sandbox_duration_seconds,
// with the maxima as gauges *_max_seconds. Cost: mtd_guest_instructions
// (a summary of instructions per request, with _max), mtd_pages_copied_total,
// mtd_request_memory_peak_bytes, mtd_request_body_bytes_total and
// mtd_response_body_bytes_total. Unrouted requests carry tenant="(no tenant)".
std::string format_prometheus(const NamedSnapshots& tenants, const ServerTotals& totals);

}  // namespace mtd::stats
