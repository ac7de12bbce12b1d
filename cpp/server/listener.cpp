#include "server/listener.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mtd::server {
namespace {

[[noreturn]] void fail(const std::string& host, int port, const std::string& why) {
    std::string where = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    throw std::runtime_error("cannot listen on " + where + ":" + std::to_string(port) + ": " + why);
}

struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = AF_INET;
};

Address resolve(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0) fail(host, port, gai_strerror(rc));
    Address a;
    std::memcpy(&a.addr, res->ai_addr, res->ai_addrlen);
    a.len = res->ai_addrlen;
    a.family = res->ai_family;
    freeaddrinfo(res);
    return a;
}

void set_port(Address& a, int port) {
    if (a.family == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(&a.addr)->sin6_port = htons(static_cast<uint16_t>(port));
    else
        reinterpret_cast<sockaddr_in*>(&a.addr)->sin_port = htons(static_cast<uint16_t>(port));
}

// Returns a bound socket or -1 with errno set.
int bind_socket(const Address& a, bool reuseport) {
    int fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

}  // namespace

ListenerSet open_listeners(const std::string& host, int port, int count) {
    Address addr = resolve(host, port);
    ListenerSet set;
    set.port = port;
    try {
        if (port != 0) {
            // SO_REUSEPORT would let us silently share the port with another
            // server run by the same user (each getting part of the traffic).
            // A plain bind fails if anyone listens there, so probe with one first.
            int probe = bind_socket(addr, false);
            if (probe < 0) fail(host, port, std::strerror(errno));
            close(probe);
        }
        for (int i = 0; i < count; ++i) {
            int fd = bind_socket(addr, true);
            if (fd < 0) fail(host, set.port, std::strerror(errno));
            set.fds.push_back(fd);
            if (listen(fd, SOMAXCONN) != 0) fail(host, set.port, std::strerror(errno));
            if (set.port == 0) {
                // Ephemeral port: the remaining sockets join the one just bound.
                sockaddr_storage bound{};
                socklen_t len = sizeof bound;
                getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
                set.port = bound.ss_family == AF_INET6
                               ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                               : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
                set_port(addr, set.port);
            }
        }
    } catch (...) {
        close_listeners(set);
        throw;
    }
    return set;
}

void close_listeners(ListenerSet& set) {
    for (int fd : set.fds)
        if (fd >= 0) close(fd);
    set.fds.clear();
}

}  // namespace mtd::server
