// JSON of the server's stats for the admin listener's /stats: a list with one
// object per tenant, keyed exactly like the entries of the Python
// Server.stats() (see bindings.cpp), so a client can use either.
#pragma once
#include <string>

#include "stats/tenant_stats.hpp"

namespace mtd::stats {

// Latency objects are {count, p50, p90, p99, p999, max, mean} in
// microseconds (floats, count an integer).
std::string format_json(const NamedSnapshots& tenants);

}  // namespace mtd::stats
