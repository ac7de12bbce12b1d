// The HTTP host: N worker threads serving the tenants in registry() on one
// port. Tenants can be loaded, swapped and removed while it runs.
#pragma once
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/program.hpp"
#include "server/config.hpp"
#include "stats/tenant_stats.hpp"
#include "tenants/log_queue.hpp"
#include "tenants/registry.hpp"

namespace mtd::server {

class Worker;
class AdminListener;

class Server {
public:
    explicit Server(ServerConfig config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and starts the workers. Throws std::runtime_error if the address
    // cannot be bound or the server is already running.
    void start();
    // Stops accepting, closes connections and joins the workers. Idempotent;
    // start() may be called again afterwards.
    void stop();
    bool running() const;

    // The bound port once started (the ephemeral one if config.port was 0).
    int port() const { return port_; }
    int threads() const { return threads_; }
    // The admin listener's bound port while running; 0 when disabled or stopped.
    int admin_port() const;
    const ServerConfig& config() const { return config_; }

    tenants::Registry& registry() { return registry_; }
    tenants::LogQueue& logs() { return *logs_; }
    // A LogSink for Program::load that files output under `tenant`, through
    // the tenant's log rate limit (tenants/log_limiter.hpp).
    sandbox::LogSink log_sink(const std::string& tenant);
    // Loads `elf` (its on_init at the lowest CPU priority, see
    // low_priority.hpp) and publishes it as tenant `name`, replacing the
    // version serving. Returns the instructions on_init took; throws
    // sandbox::LoadError and leaves the serving version alone.
    uint64_t load_tenant(const std::string& name, std::span<const uint8_t> elf, const std::vector<std::string>& hosts,
                         const sandbox::Limits& limits, bool is_default);
    // Log entries the full queue evicted (all tenants).
    uint64_t log_queue_dropped() const { return logs_->dropped(); }

    // Per-tenant counters; the first entry, named stats::kNoTenant, counts
    // requests that matched no tenant (404 without a default tenant). With
    // `names`, only those tenants that exist, in that order ("" or
    // kNoTenant selects the unrouted entry).
    stats::NamedSnapshots stats(const std::vector<std::string>* names = nullptr) const;

    // The execution tier /stats and /metrics report for tenant `name`.
    void set_tier(const std::string& name, stats::Tier tier);

    // Readiness for the admin listener's /readyz: whoever loads the tenants
    // (the Python engine) says when they are built and served, with a line
    // of detail. Any thread.
    void set_ready(bool ready, std::string detail);
    std::pair<bool, std::string> readiness() const;

private:
    struct H2oConfig;

    ServerConfig config_;
    int threads_;
    int port_ = 0;
    std::unique_ptr<H2oConfig> h2o_;
    std::shared_ptr<tenants::LogQueue> logs_;
    tenants::Registry registry_;
    stats::TenantStats unrouted_;
    mutable std::mutex lifecycle_mu_;  // start/stop/running may come from any thread
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<AdminListener> admin_;
    mutable std::mutex ready_mu_;
    bool ready_ = false;                          // guarded by ready_mu_
    std::string ready_detail_ = "not started";    // guarded by ready_mu_
};

}  // namespace mtd::server
