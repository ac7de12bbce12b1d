#include "server/server.hpp"

#include <h2o.h>

#include <stdexcept>
#include <thread>

#include "server/admin_listener.hpp"
#include "server/h2o_hardening.hpp"
#include "server/listener.hpp"
#include "server/low_priority.hpp"
#include "server/request_handler.hpp"
#include "server/worker.hpp"

namespace mtd::server {

// H2O's global configuration: read-only once built, shared by all workers.
struct Server::H2oConfig {
    h2o_globalconf_t globalconf;

    explicit H2oConfig(const ServerConfig& config) {
        h2o_config_init(&globalconf);
        harden(globalconf);
        globalconf.max_request_entity_size = config.max_request_body;
        globalconf.http1.req_timeout = config.request_timeout_ms;
        globalconf.http2.idle_timeout = config.request_timeout_ms;
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
        if (config_.admin_port >= 0) admin_ = std::make_unique<AdminListener>(config_.admin_port, *this);
    } catch (...) {
        for (auto& w : workers_) w->request_stop();
        workers_.clear();  // joins those that started, closes the other fds
        throw;
    }
}

int Server::admin_port() const {
    std::lock_guard lock(lifecycle_mu_);
    return admin_ ? admin_->port() : 0;
}

void Server::stop() {
    std::lock_guard lock(lifecycle_mu_);
    admin_.reset();
    // Signal all first so the workers drain their connections in parallel.
    for (auto& w : workers_) w->request_stop();
    for (auto& w : workers_) w->join();
    workers_.clear();
}

uint64_t Server::load_tenant(const std::string& name, std::span<const uint8_t> elf,
                             const std::vector<std::string>& hosts, const sandbox::Limits& limits,
                             bool is_default) {
    registry_.check_routes(name, hosts, is_default);  // before the cost of a load
    // on_init may run for seconds (its budget is 2,000,000,000 instructions):
    // it must not take a core from the workers.
    auto program = run_at_low_priority([&] { return sandbox::Program::load(elf, limits, log_sink(name)); });
    const uint64_t init_instructions = program->init_instructions_used();
    registry_.publish(name, hosts, is_default, std::move(program));
    return init_instructions;
}

sandbox::LogSink Server::log_sink(const std::string& tenant) {
    // Captures the queue and limiter by shared_ptr, not the server, so a
    // Program that outlives the server (e.g. still referenced from Python)
    // stays safe. The limiter is the tenant's, shared by all its versions.
    auto limiter = registry_.state_for(tenant).log_limiter;
    std::string notice = "\nmtd: log rate limit (" + std::to_string(int(limiter->limit().bytes_per_second / 1024)) +
                         " KiB/s, burst " + std::to_string(int(limiter->limit().burst_bytes / 1024)) +
                         " KiB) reached; dropping output\n";
    return [logs = logs_, limiter = std::move(limiter), tenant, notice](std::string_view text) {
        switch (limiter->admit(text.size())) {
            case tenants::LogLimiter::Verdict::Admit:
                logs->push(tenant, text);
                break;
            case tenants::LogLimiter::Verdict::DropStarted:
                // Said at most every 10 s, so the console shows why output
                // is missing; the byte count is in stats (log_dropped).
                logs->push(tenant, notice);
                break;
            case tenants::LogLimiter::Verdict::Drop:
                break;
        }
    };
}

stats::NamedSnapshots Server::stats(const std::vector<std::string>* names) const {
    stats::NamedSnapshots out;
    bool unrouted = true;
    if (names) {
        unrouted = false;
        for (const auto& n : *names) unrouted |= n.empty() || n == stats::kNoTenant;
    }
    if (unrouted) out.emplace_back(stats::kNoTenant, unrouted_.snapshot());
    auto tenants = registry_.stats(names);
    out.reserve(out.size() + tenants.size());
    for (auto& entry : tenants) out.push_back(std::move(entry));
    return out;
}

void Server::set_tier(const std::string& name, stats::Tier tier) {
    registry_.state_for(name).stats->set_tier(tier);
}

void Server::set_ready(bool ready, std::string detail) {
    std::lock_guard lock(ready_mu_);
    ready_ = ready;
    ready_detail_ = std::move(detail);
}

std::pair<bool, std::string> Server::readiness() const {
    // Not running() (lifecycle_mu_): stop() holds that lock while it joins
    // the admin thread, the one caller. The admin listener lives only while
    // the server runs, so its answering already says the server runs.
    std::lock_guard lock(ready_mu_);
    return {ready_, ready_detail_};
}

}  // namespace mtd::server
