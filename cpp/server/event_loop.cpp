#include "server/event_loop.hpp"

#include <sys/socket.h>

namespace mtd::server {
namespace {
// On stop: time for responses in flight to drain before connections are cut,
// then time for H2O to tear the cut connections down.
constexpr auto kDrainTime = std::chrono::milliseconds(200);
constexpr auto kCloseTime = std::chrono::seconds(2);
}  // namespace

EventLoop::EventLoop(int listen_fd, h2o_globalconf_t* config) {
    evloop_ = h2o_evloop_create();
    h2o_context_init(&ctx_, evloop_, config);
    accept_ctx_.ctx = &ctx_;
    accept_ctx_.hosts = config->hosts;
    listener_ = h2o_evloop_socket_create(evloop_, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    listener_->data = this;
    h2o_socket_read_start(listener_, on_accept);
}

EventLoop::~EventLoop() {
    if (listener_) shut_down();
    // Disposing of a context with live connections would crash; leaking
    // one loop on an abnormal stop is the lesser evil.
    if (leak_) return;
    h2o_context_dispose(&ctx_);
    h2o_evloop_destroy(evloop_);
}

void EventLoop::on_close(void* data) {
    Conn* c = static_cast<Conn*>(data);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->loop->open_--;
    delete c;
}

void EventLoop::on_accept(h2o_socket_t* listener, const char* err) {
    if (err) return;
    EventLoop* self = static_cast<EventLoop*>(listener->data);
    // Accept a few per wake-up: fairer to the other workers than draining.
    for (int i = 0; i < 16; ++i) {
        h2o_socket_t* sock = h2o_evloop_socket_accept(listener);
        if (!sock) return;
        Conn* c = new Conn{self, sock, self->conns_.prev, &self->conns_};
        self->conns_.prev->next = c;
        self->conns_.prev = c;
        self->open_++;
        sock->on_close.cb = on_close;
        sock->on_close.data = c;
        h2o_accept(&self->accept_ctx_, sock);
    }
}

void EventLoop::run_for(std::chrono::steady_clock::duration d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (open_ > 0 && std::chrono::steady_clock::now() < until) h2o_evloop_run(evloop_, 10);
}

bool EventLoop::shut_down() {
    if (listener_) {
        h2o_socket_close(listener_);  // closes the listening fd too
        listener_ = nullptr;
    }
    h2o_context_request_shutdown(&ctx_);
    run_for(kDrainTime);
    // shutdown() rather than close(): H2O still owns the fds; it sees EOF
    // and tears each connection down through its normal path.
    for (Conn* c = conns_.next; c != &conns_; c = c->next) shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
    run_for(kCloseTime);
    // request_shutdown armed HTTP/2's one-second GOAWAY timer; with every
    // connection gone it has nothing left to do, and a linked timer would
    // trip an assertion in h2o_context_dispose.
    if (h2o_timeout_is_linked(&ctx_.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&ctx_.http2._graceful_shutdown_timeout);
    leak_ = open_ != 0;
    return !leak_;
}

}  // namespace mtd::server
