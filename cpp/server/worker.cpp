#include "server/worker.hpp"

#include <h2o.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "server/request_handler.hpp"

namespace mtd::server {
namespace {

// How often an idle loop wakes up to look at the stop flag and the registry.
constexpr int32_t kPollMs = 50;
// On stop: time for responses in flight to drain before connections are cut,
// then time for H2O to tear the cut connections down.
constexpr auto kDrainTime = std::chrono::milliseconds(200);
constexpr auto kCloseTime = std::chrono::seconds(2);

// The loop's state. Open connections are tracked (an intrusive list hooked
// into each socket's on_close) because H2O 2.2 cannot close idle HTTP/1
// keep-alive connections itself, and its context and loop can only be
// disposed of once every connection is gone.
struct Loop {
    struct Conn {
        Loop* loop;
        h2o_socket_t* sock;
        Conn* prev;
        Conn* next;
    };

    h2o_evloop_t* evloop = nullptr;
    h2o_context_t ctx{};
    h2o_accept_ctx_t accept_ctx{};
    h2o_socket_t* listener = nullptr;
    Conn conns{nullptr, nullptr, &conns, &conns};  // list head
    size_t open = 0;

    static void on_close(void* data) {
        Conn* c = static_cast<Conn*>(data);
        c->prev->next = c->next;
        c->next->prev = c->prev;
        c->loop->open--;
        delete c;
    }

    static void on_accept(h2o_socket_t* listener, const char* err) {
        if (err) return;
        Loop* self = static_cast<Loop*>(listener->data);
        // Accept a few per wake-up: fairer to the other workers than draining.
        for (int i = 0; i < 16; ++i) {
            h2o_socket_t* sock = h2o_evloop_socket_accept(listener);
            if (!sock) return;
            Conn* c = new Conn{self, sock, self->conns.prev, &self->conns};
            self->conns.prev->next = c;
            self->conns.prev = c;
            self->open++;
            sock->on_close.cb = on_close;
            sock->on_close.data = c;
            h2o_accept(&self->accept_ctx, sock);
        }
    }

    void run_for(std::chrono::steady_clock::duration d) {
        auto until = std::chrono::steady_clock::now() + d;
        while (open > 0 && std::chrono::steady_clock::now() < until) h2o_evloop_run(evloop, 10);
    }

    // Stops accepting, lets responses in flight go out, then cuts the rest.
    // Returns false if some connection would not close (the loop must leak).
    bool shut_down() {
        if (listener) {
            h2o_socket_close(listener);  // closes the listening fd too
            listener = nullptr;
        }
        h2o_context_request_shutdown(&ctx);
        run_for(kDrainTime);
        // shutdown() rather than close(): H2O still owns the fds; it sees EOF
        // and tears each connection down through its normal path.
        for (Conn* c = conns.next; c != &conns; c = c->next) shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
        run_for(kCloseTime);
        // request_shutdown armed HTTP/2's one-second GOAWAY timer; with every
        // connection gone it has nothing left to do, and a linked timer would
        // trip an assertion in h2o_context_dispose.
        if (h2o_timeout_is_linked(&ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&ctx.http2._graceful_shutdown_timeout);
        return open == 0;
    }
};

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

    Loop loop;
    loop.evloop = h2o_evloop_create();
    h2o_context_init(&loop.ctx, loop.evloop, h2o_config_);
    loop.accept_ctx.ctx = &loop.ctx;
    loop.accept_ctx.hosts = h2o_config_->hosts;
    loop.listener = h2o_evloop_socket_create(loop.evloop, listen_fd_, H2O_SOCKET_FLAG_DONT_READ);
    listen_fd_ = -1;  // the socket owns it now
    loop.listener->data = &loop;
    h2o_socket_read_start(loop.listener, Loop::on_accept);

    while (!stop_.load(std::memory_order_acquire)) {
        h2o_evloop_run(loop.evloop, kPollMs);
        handler.refresh();
    }

    if (loop.shut_down()) {
        h2o_context_dispose(&loop.ctx);
        h2o_evloop_destroy(loop.evloop);
    } else {
        // Disposing of a context with live connections would crash; leaking
        // one loop on an abnormal stop is the lesser evil.
        std::fprintf(stderr, "mtd: worker %zu: %zu connection(s) did not close; leaking its event loop\n",
                     index_, loop.open);
    }
    RequestHandler::set_current(nullptr);
}

}  // namespace mtd::server
