// One worker thread: its own H2O event loop, context, listening socket
// (SO_REUSEPORT) and RequestHandler. Workers share only the read-only H2O
// configuration, the tenant registry and their own stats slots.
#pragma once
#include <atomic>
#include <cstddef>
#include <thread>

#include "server/config.hpp"
#include "stats/tenant_stats.hpp"
#include "tenants/registry.hpp"

struct st_h2o_globalconf_t;

namespace mtd::server {

class Worker {
public:
    // Takes ownership of listen_fd.
    Worker(size_t index, int listen_fd, st_h2o_globalconf_t* h2o_config, const ServerConfig& config,
           tenants::Registry& registry, stats::TenantStats& unrouted);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void start();
    // Asks the loop to stop (returns at once); join() waits for it.
    void request_stop() { stop_.store(true, std::memory_order_release); }
    void join();

private:
    void run();

    const size_t index_;
    int listen_fd_;
    st_h2o_globalconf_t* h2o_config_;
    const ServerConfig& config_;
    tenants::Registry& registry_;
    stats::TenantStats& unrouted_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace mtd::server
