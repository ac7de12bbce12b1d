#include "server/worker.hpp"

#include <unistd.h>

#include <cstdio>

#include "server/event_loop.hpp"
#include "server/request_handler.hpp"

namespace mtd::server {
namespace {

// How often an idle loop wakes up to look at the stop flag and the registry.
constexpr int32_t kPollMs = 50;

}  // namespace

Worker::Worker(size_t index, int listen_fd, h2o_globalconf_t* h2o_config, const ServerConfig& config,
               tenants::Registry& registry, stats::TenantStats& unrouted)
    : index_(index),
      listen_fd_(listen_fd),
      h2o_config_(h2o_config),
      config_(config),
      registry_(registry),
      unrouted_(unrouted) {}

Worker::~Worker() {
    request_stop();
    join();
    if (listen_fd_ >= 0) close(listen_fd_);
}

void Worker::start() { thread_ = std::thread([this] { run(); }); }

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::run() {
    // The Machine lives on this thread, so its arena is first touched here.
    RequestHandler handler(config_, registry_, unrouted_, index_);
    RequestHandler::set_current(&handler);

    {
        EventLoop loop(listen_fd_, h2o_config_);
        listen_fd_ = -1;  // the loop owns it now
        handler.start_long_requests(loop.context());
        while (!stop_.load(std::memory_order_acquire)) {
            loop.run_once(kPollMs);
            handler.refresh();
        }
        // Before the loop shuts down: they are answered through it.
        handler.stop_long_requests([&loop] { loop.run_once(10); });
        if (!loop.shut_down())
            std::fprintf(stderr, "mtd: worker %zu: %zu connection(s) did not close; leaking its event loop\n",
                         index_, loop.open_connections());
    }
    RequestHandler::set_current(nullptr);
}

}  // namespace mtd::server
