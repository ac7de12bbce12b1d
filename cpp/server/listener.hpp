// Listening sockets for the worker threads: one per worker, all bound to the
// same address with SO_REUSEPORT so the kernel spreads connections across
// workers without a shared accept queue.
#pragma once
#include <string>
#include <vector>

namespace mtd::server {

struct ListenerSet {
    std::vector<int> fds;  // non-blocking, listening
    int port = 0;          // the bound port (resolved when 0 was asked for)
};

// Opens `count` listeners on host:port. Port 0 binds the first socket to an
// ephemeral port and the rest to the same one. Throws std::runtime_error
// ("cannot listen on 127.0.0.1:8080: Address already in use") and closes
// whatever it opened on failure.
ListenerSet open_listeners(const std::string& host, int port, int count);

void close_listeners(ListenerSet& set);

}  // namespace mtd::server
