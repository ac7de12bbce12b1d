#include "server/admin_listener.hpp"

#include <cstring>
#include <string_view>

#include "server/event_loop.hpp"
#include "server/h2o_hardening.hpp"
#include "server/listener.hpp"
#include "server/server.hpp"
#include "stats/json_format.hpp"
#include "stats/prometheus.hpp"

namespace mtd::server {
namespace {
// How often the idle loop looks at the stop flag.
constexpr int32_t kPollMs = 50;
}  // namespace

struct AdminListener::Handler {
    h2o_handler_t super;  // first: H2O hands us a pointer to it
    AdminListener* self;
};

AdminListener::AdminListener(int port, const Server& server) : server_(server) {
    h2o_config_init(&config_);
    harden(config_);
    config_.max_request_entity_size = 64 * 1024;  // nothing here takes a body
    h2o_hostconf_t* host = h2o_config_register_host(&config_, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    auto* handler = reinterpret_cast<Handler*>(
        h2o_create_handler(h2o_config_register_path(host, "/", 0), sizeof(Handler)));
    handler->super.on_req = on_req;
    handler->self = this;

    ListenerSet listeners;
    try {
        listeners = open_listeners("127.0.0.1", port, 1);
    } catch (...) {
        h2o_config_dispose(&config_);
        throw;
    }
    port_ = listeners.port;
    thread_ = std::thread([this, fd = listeners.fds[0]] { run(fd); });
}

AdminListener::~AdminListener() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
    h2o_config_dispose(&config_);
}

void AdminListener::run(int listen_fd) {
    EventLoop loop(listen_fd, &config_);
    while (!stop_.load(std::memory_order_acquire)) loop.run_once(kPollMs);
    loop.shut_down();
}

int AdminListener::on_req(h2o_handler_t* h, h2o_req_t* req) {
    const AdminListener& self = *reinterpret_cast<Handler*>(h)->self;
    // The normalized path has no query string and no "..", "//" tricks.
    std::string_view path(req->path_normalized.base, req->path_normalized.len);
    const bool metrics = path == "/metrics", stats = path == "/stats";
    const bool healthz = path == "/healthz", readyz = path == "/readyz";
    if (!metrics && !stats && !healthz && !readyz) {
        h2o_send_error_404(req, "Not Found",
                           "not found: the admin port serves /metrics, /stats, /healthz and /readyz\n", 0);
        return 0;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        h2o_send_error_405(req, "Method Not Allowed", "method not allowed\n", 0);
        return 0;
    }
    // Building the text allocates; this thread is not on the request path.
    std::string body;
    const char* type = "text/plain; charset=utf-8";
    int status = 200;
    if (healthz) {
        // The process answers: alive (for systemd and liveness probes).
        body = "ok\n";
    } else if (readyz) {
        // Tenants built and served (for load balancers): 503 while not.
        auto [ready, detail] = self.server_.readiness();
        status = ready ? 200 : 503;
        body = (ready ? "ready: " : "not ready: ") + detail + "\n";
    } else if (metrics) {
        body = stats::format_prometheus(self.server_.stats(), {self.server_.log_queue_dropped()});
        type = stats::kPrometheusContentType;
    } else {
        body = stats::format_json(self.server_.stats());
        type = "application/json";
    }
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Service Unavailable";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, nullptr, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body.data(), body.size());  // copies into the request's pool
    return 0;
}

}  // namespace mtd::server
