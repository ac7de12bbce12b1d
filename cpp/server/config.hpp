// Settings of one HTTP server instance.
#pragma once
#include <cstddef>
#include <string>

#include "sandbox/slice.hpp"

namespace mtd::server {

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0 = an ephemeral port, see Server::port()
    int threads = 0;  // 0 = one worker per hardware thread
    // /_mtd/vanilla answers vanilla_page natively, without a sandbox, so the
    // sandbox's overhead can be measured against the same bytes.
    bool vanilla = true;
    std::string vanilla_page;
    std::string vanilla_content_type = "text/plain";
    size_t max_request_body = 1 << 20;  // H2O buffers whole bodies; its default is 1 GiB
    // A connection has this long to send a complete request head, counted
    // from its accept (or from the end of its previous response, so it is
    // also the keep-alive idle limit); H2O then closes it. Slow clients
    // (slowloris) and idle ones cannot hold a connection longer. Also
    // HTTP/2's idle timeout.
    uint64_t request_timeout_ms = 10'000;
    // Time slicing (sandbox/slice.hpp): a request still running at the end
    // of its slice is parked and continued between other requests, so a
    // long or hostile request cannot stall its worker's other connections.
    // A parked request holds a Machine (up to request_memory of copied
    // pages), so a worker parks at most max_parked, and at most
    // max_parked_per_tenant of one tenant; past either, the request is shed
    // with 503 (kind "overloaded"). max_parked 0 turns slicing off: every
    // request runs to completion on its worker.
    sandbox::Slice slice;
    size_t max_parked = 16;
    size_t max_parked_per_tenant = 8;
    // Admin listener (/metrics, /stats) on 127.0.0.1 only: -1 = disabled,
    // 0 = an ephemeral port (see Server::admin_port()).
    int admin_port = -1;
};

}  // namespace mtd::server
