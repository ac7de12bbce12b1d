// One H2O event loop serving one listening socket: what a worker thread and
// the admin listener both run. Open connections are tracked (an intrusive
// list hooked into each socket's on_close) because H2O 2.2 cannot close idle
// HTTP/1 keep-alive connections itself, and its context and loop can only be
// disposed of once every connection is gone.
#pragma once
#include <h2o.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mtd::server {

class EventLoop {
public:
    // Takes ownership of listen_fd (non-blocking, listening).
    EventLoop(int listen_fd, h2o_globalconf_t* config);
    // Shuts down if that was not done, then disposes of the context and
    // loop, or leaks them if some connection would not close.
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Runs the loop for at most timeout_ms (returns earlier after events).
    void run_once(int32_t timeout_ms) { h2o_evloop_run(evloop_, timeout_ms); }

    // Stops accepting, lets responses in flight go out, then cuts the rest.
    // Returns false if some connection would not close.
    bool shut_down();
    size_t open_connections() const { return open_; }
    h2o_context_t* context() { return &ctx_; }

private:
    struct Conn {
        EventLoop* loop;
        h2o_socket_t* sock;
        Conn* prev;
        Conn* next;
    };

    static void on_close(void* data);
    static void on_accept(h2o_socket_t* listener, const char* err);
    void run_for(std::chrono::steady_clock::duration d);

    h2o_evloop_t* evloop_ = nullptr;
    h2o_context_t ctx_{};
    h2o_accept_ctx_t accept_ctx_{};
    h2o_socket_t* listener_ = nullptr;
    Conn conns_{nullptr, nullptr, &conns_, &conns_};  // list head
    size_t open_ = 0;
    bool leak_ = false;
};

}  // namespace mtd::server
