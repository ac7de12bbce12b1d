// JSON of the server's stats for the admin listener's /stats: a list with one
// object per tenant, keyed exactly like the entries of the Python
// Server.stats() (see bindings.cpp), so a client can use either.
#pragma once
#include <string>

#include "stats/tenant_stats.hpp"

namespace mtd::stats {

// Latency objects are {count, p50_us, p90_us, p99_us, p999_us, max_us,
// mean_us}: microseconds as floats, count an integer. "cost" is
// {instructions {count, p50, p90, p99, p999, max, mean}, pages_copied,
// pages_copied_per_request, peak_memory_bytes, bytes_in, bytes_out}.
std::string format_json(const NamedSnapshots& tenants);

}  // namespace mtd::stats
