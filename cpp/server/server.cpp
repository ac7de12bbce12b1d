#include "server/server.hpp"

#include <h2o.h>

#include <stdexcept>
#include <thread>

#include "server/listener.hpp"
#include "server/request_handler.hpp"
#include "server/worker.hpp"

namespace mtd::server {

// H2O's global configuration: read-only once built, shared by all workers.
struct Server::H2oConfig {
    h2o_globalconf_t globalconf;

    explicit H2oConfig(const ServerConfig& config) {
        h2o_config_init(&globalconf);
        globalconf.max_request_entity_size = config.max_request_body;
        // One wildcard host with one handler at "/": routing by Host is ours.
        h2o_hostconf_t* host = h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
        RequestHandler::install(h2o_config_register_path(host, "/", 0));
    }
    ~H2oConfig() { h2o_config_dispose(&globalconf); }
};

namespace {
int resolve_threads(int requested) {
    if (requested > 0) return requested;
    unsigned n = std::thread::hardware_concurrency();
    return n ? static_cast<int>(n) : 1;
}
}  // namespace

Server::Server(ServerConfig config)
    : config_(std::move(config)),
      threads_(resolve_threads(config_.threads)),
      h2o_(std::make_unique<H2oConfig>(config_)),
      logs_(std::make_shared<tenants::LogQueue>()),
      registry_(threads_),
      unrouted_(threads_) {}

Server::~Server() { stop(); }

bool Server::running() const {
    std::lock_guard lock(lifecycle_mu_);
    return !workers_.empty();
}

void Server::start() {
    std::lock_guard lock(lifecycle_mu_);
    if (!workers_.empty()) throw std::runtime_error("server already running on port " + std::to_string(port_));
    ListenerSet listeners = open_listeners(config_.host, config_.port, threads_);
    port_ = listeners.port;
    for (int i = 0; i < threads_; ++i)
        workers_.push_back(std::make_unique<Worker>(i, listeners.fds[i], &h2o_->globalconf, config_, registry_,
                                                    unrouted_));
    try {
        for (auto& w : workers_) w->start();
    } catch (...) {
        for (auto& w : workers_) w->request_stop();
        workers_.clear();  // joins those that started, closes the other fds
        throw;
    }
}

void Server::stop() {
    std::lock_guard lock(lifecycle_mu_);
    // Signal all first so the workers drain their connections in parallel.
    for (auto& w : workers_) w->request_stop();
    for (auto& w : workers_) w->join();
    workers_.clear();
}

sandbox::LogSink Server::log_sink(const std::string& tenant) {
    // Captures the queue by shared_ptr, not the server, so a Program that
    // outlives the server (e.g. still referenced from Python) stays safe.
    return [logs = logs_, tenant](std::string_view text) { logs->push(tenant, text); };
}

std::vector<std::pair<std::string, stats::Snapshot>> Server::stats() const {
    std::vector<std::pair<std::string, stats::Snapshot>> out;
    out.emplace_back("", unrouted_.snapshot());
    for (auto& entry : registry_.stats()) out.push_back(std::move(entry));
    return out;
}

}  // namespace mtd::server
