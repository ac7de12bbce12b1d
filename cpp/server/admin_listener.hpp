// The admin listener: a small HTTP server on loopback, separate from the
// tenants' port, with GET /metrics (Prometheus text format), GET /stats
// (JSON, the entries of Server::stats()), GET /healthz (200 while the process
// answers) and GET /readyz (200 once the tenants are built and served, 503
// before and while stopping; Server::set_ready). It has its own thread and H2O
// loop, so a scrape never competes with tenant requests on a worker, and
// the tenant port never exposes these paths (there they route to tenants).
#pragma once
#include <h2o.h>

#include <atomic>
#include <memory>
#include <thread>

namespace mtd::server {

class Server;

class AdminListener {
public:
    // Binds 127.0.0.1:port (0 = an ephemeral port), whatever host the tenant
    // port uses: the stats name every tenant and are not for the network.
    // Throws std::runtime_error if the port cannot be bound. `server` must
    // outlive this object.
    AdminListener(int port, const Server& server);
    ~AdminListener();  // stops serving and joins the thread
    AdminListener(const AdminListener&) = delete;
    AdminListener& operator=(const AdminListener&) = delete;

    int port() const { return port_; }

private:
    struct Handler;
    static int on_req(h2o_handler_t* self, h2o_req_t* req);
    void run(int listen_fd);

    const Server& server_;
    int port_ = 0;
    h2o_globalconf_t config_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace mtd::server
