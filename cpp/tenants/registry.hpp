// The tenants a server knows and how requests reach them.
//
// Writers (load, hot swap, remove; rare, from Python) take a mutex and
// publish a new immutable RoutingTable with a bumped generation. Workers
// (every request) never lock: each keeps its own shared_ptr to the table it
// last saw and re-fetches only when generation() changes. A hot swap
// therefore never disturbs a request in flight: the worker's table, and
// through it the old Program, stays alive until the worker refreshes.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sandbox/program.hpp"
#include "stats/tenant_stats.hpp"
#include "tenants/log_limiter.hpp"

namespace mtd::tenants {

// Lower-cases `host` into `buf` and strips a port suffix and a trailing dot:
// "Example.COM:8080" -> "example.com", "[::1]:80" -> "[::1]". Returns a view
// of `buf`, which is reused, so the request path does not allocate once warm.
std::string_view normalize_host(std::string_view host, std::string& buf);

// One published version of a tenant. Immutable.
struct Tenant {
    std::string name;
    std::vector<std::string> hosts;  // normalized
    std::shared_ptr<const sandbox::Program> program;
    // Shared by every version of the same tenant, so counts survive hot swaps.
    std::shared_ptr<stats::TenantStats> stats;
    std::shared_ptr<LogLimiter> log_limiter;
};

// What every version of a tenant shares; see Registry::state_for().
struct TenantState {
    std::shared_ptr<stats::TenantStats> stats;
    std::shared_ptr<LogLimiter> log_limiter;
};

// Immutable snapshot of host -> tenant routing.
class RoutingTable {
public:
    // `host` must already be normalized.
    const Tenant* find(std::string_view host) const;
    const Tenant* default_tenant() const { return default_; }
    uint64_t generation() const { return generation_; }

private:
    friend class Registry;
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::vector<std::shared_ptr<const Tenant>> tenants_;  // keeps them alive
    std::unordered_map<std::string, const Tenant*, Hash, std::equal_to<>> by_host_;
    const Tenant* default_ = nullptr;
    uint64_t generation_ = 0;
};

// A tenant asked for a host another tenant serves, or to be the default
// while another is: it would take the other's traffic. what() names both.
struct RoutingConflict : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Registry {
public:
    explicit Registry(size_t worker_count);

    // Throws RoutingConflict if publishing `name` with these hosts (or as
    // the default) would take a host or the default from another tenant:
    // what a tenant serves is never handed to another by a later publish.
    void check_routes(const std::string& name, const std::vector<std::string>& hosts, bool is_default) const;
    // Adds tenant `name`, or replaces its program and hosts (hot swap), after
    // check_routes (throws RoutingConflict). is_default makes it the default.
    void publish(const std::string& name, const std::vector<std::string>& hosts, bool is_default,
                 std::shared_ptr<const sandbox::Program> program);
    // Returns false if there was no such tenant.
    bool remove(const std::string& name);
    // The program tenant `name` serves now, or null.
    std::shared_ptr<const sandbox::Program> program(const std::string& name) const;

    // The stats and log limiter of tenant `name`, created if it has none yet.
    // A program's log sink needs them before the program is published (on_init
    // prints during the load), so the next publish() of `name` adopts them.
    TenantState state_for(const std::string& name);

    // Workers poll this (cheap) and call table() only when it moved.
    uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    std::shared_ptr<const RoutingTable> table() const;

    // Snapshots of every tenant sorted by name, or of those in `names` that
    // exist, in that order.
    std::vector<std::pair<std::string, stats::Snapshot>> stats(const std::vector<std::string>* names = nullptr) const;
    size_t worker_count() const { return worker_count_; }

private:
    void check_routes_locked(const std::string& name, const std::vector<std::string>& normalized,
                             bool is_default) const;
    void rebuild_locked();
    TenantState state_for_locked(const std::string& name);

    const size_t worker_count_;
    mutable std::mutex mu_;
    std::map<std::string, std::shared_ptr<const Tenant>> tenants_;
    std::map<std::string, TenantState> pending_;  // state_for() of names not yet published
    std::string default_name_;
    std::shared_ptr<const RoutingTable> table_;
    std::atomic<uint64_t> generation_{0};
};

}  // namespace mtd::tenants
