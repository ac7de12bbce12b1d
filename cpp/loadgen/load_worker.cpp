#include "loadgen/load_worker.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace mtd::loadgen {

using namespace std::chrono_literals;

namespace {
constexpr auto kReconnectBackoff = 10ms;  // after a refused connect, not a busy loop
constexpr auto kMaxWait = 100ms;          // how often stop, deadline and timeouts are checked
constexpr size_t kReadBuffer = 64 * 1024;
}  // namespace

LoadWorker::LoadWorker(const Shared& shared, int first_connection, int connections)
    : shared_(shared), connections_(connections), buffer_(kReadBuffer) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::runtime_error("epoll_create1 failed");
    const LoadConfig& config = shared_.config;
    if (config.rate > 0) {
        interval_ = std::chrono::nanoseconds(int64_t(1e9 * config.connections / config.rate));
        // Spread the connections' schedules evenly over one interval.
        for (int i = 0; i < connections; ++i)
            connections_[i].due = shared_.start + interval_ * (first_connection + i) / config.connections;
    } else {
        for (auto& c : connections_) c.due = shared_.start;
    }
}

LoadWorker::~LoadWorker() {
    for (auto& c : connections_) close(c);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool LoadWorker::claim_request() {
    uint64_t limit = shared_.config.requests;
    if (limit == 0) return true;
    return shared_.claimed.fetch_add(1, std::memory_order_relaxed) < limit;
}

void LoadWorker::open(Connection& c) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, LoadErrorKind::Connect);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(shared_.config.port));
    inet_pton(AF_INET, shared_.config.address.c_str(), &addr.sin_addr);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 && errno != EINPROGRESS)
        return fail(c, LoadErrorKind::Connect);
    watch(c, EPOLL_CTL_ADD, true);
    c.phase = Phase::Connecting;
    c.sent_at = Clock::now();  // a connect that never completes times out too
}

// Edge-triggered; EPOLLOUT only while a connect or a blocked write waits for
// it, since every ACK would otherwise wake the loop for nothing.
void LoadWorker::watch(Connection& c, int op, bool writable) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET | (writable ? uint32_t(EPOLLOUT) : 0u);
    ev.data.u32 = uint32_t(&c - connections_.data());
    epoll_ctl(epoll_fd_, op, c.fd, &ev);
    c.watching_writable = writable;
}

void LoadWorker::close(Connection& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.phase = Phase::Idle;
}

void LoadWorker::fail(Connection& c, LoadErrorKind kind) {
    close(c);
    // In count mode a refused connection uses up a request, so an absent
    // server ends the run with errors instead of retrying forever.
    if (kind == LoadErrorKind::Connect && !claim_request()) {
        out_of_requests_ = true;
        return;
    }
    ++report_.errors[size_t(kind)];
    errors_.fetch_add(1, std::memory_order_relaxed);
    auto now = Clock::now();
    if (interval_.count() > 0) {
        c.due += interval_;  // the failed request keeps its slot in the schedule
    } else {
        c.due = now + (kind == LoadErrorKind::Connect ? kReconnectBackoff : 0ms);
    }
}

void LoadWorker::begin_request(Connection& c, Clock::time_point now) {
    if (!claim_request()) {
        out_of_requests_ = true;
        return;
    }
    c.sent_at = interval_.count() > 0 ? c.due : now;
    c.written = 0;
    c.parser.reset();
    c.phase = Phase::Writing;
    write_some(c);
}

void LoadWorker::write_some(Connection& c) {
    const std::string& request = shared_.request;
    while (c.written < request.size()) {
        ssize_t n = send(c.fd, request.data() + c.written, request.size() - c.written, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN) return fail(c, LoadErrorKind::Write);
            if (!c.watching_writable) watch(c, EPOLL_CTL_MOD, true);
            return;  // the EPOLLOUT edge resumes us
        }
        c.written += size_t(n);
    }
    if (c.watching_writable) watch(c, EPOLL_CTL_MOD, false);
    c.phase = Phase::Reading;
}

void LoadWorker::read_some(Connection& c) {
    for (;;) {
        ssize_t n = recv(c.fd, buffer_.data(), buffer_.size(), 0);
        if (n == 0) return fail(c, LoadErrorKind::Read);  // closed before the response ended
        if (n < 0) {
            if (errno == EAGAIN) return;
            return fail(c, LoadErrorKind::Read);
        }
        c.parser.feed(std::string_view(buffer_.data(), size_t(n)));
        if (c.parser.state() == HttpResponseParser::State::Error)
            return fail(c, LoadErrorKind::Parse);
        if (c.parser.state() == HttpResponseParser::State::Complete) return finish_response(c);
        // A short read drained the socket; with edge triggering, more data
        // brings a new event.
        if (size_t(n) < buffer_.size()) return;
    }
}

void LoadWorker::finish_response(Connection& c) {
    auto now = Clock::now();
    report_.latency.record(uint64_t(std::chrono::nanoseconds(now - c.sent_at).count()));
    ++report_.requests;
    report_.body_bytes += c.parser.body_bytes();
    int status_class = c.parser.status() / 100;
    ++report_.status_classes[status_class >= 1 && status_class <= 5 ? status_class : 0];
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (!c.parser.keep_alive()) close(c);
    c.phase = c.fd >= 0 ? Phase::Idle : c.phase;
    schedule_next(c, now);
}

void LoadWorker::schedule_next(Connection& c, Clock::time_point now) {
    c.due = interval_.count() > 0 ? c.due + interval_ : now;
    if (c.fd >= 0 && c.phase == Phase::Idle && now >= c.due && now < shared_.deadline &&
        !shared_.stop.load(std::memory_order_relaxed))
        begin_request(c, now);
}

LoadWorker::Clock::duration LoadWorker::wait_time(Clock::time_point now) const {
    auto until = std::min(now + kMaxWait, shared_.deadline);
    // Idle connections wait for their due time (to open or to send), unless
    // the request count is used up: then only the busy ones matter.
    if (!out_of_requests_)
        for (const auto& c : connections_)
            if (c.phase == Phase::Idle) until = std::min(until, c.due);
    return std::max(until - now, Clock::duration::zero());
}

// epoll_wait's millisecond timeout would round a 0.4 ms wait for the next
// scheduled request down to 0, and at a fixed rate the thread would spin
// (stealing the CPU the server under test needs); rounding up would send
// requests up to 1 ms late. epoll_pwait2 takes nanoseconds.
int LoadWorker::wait_events(epoll_event* events, int max, Clock::duration timeout) {
    static std::atomic<bool> have_pwait2{true};
    if (have_pwait2.load(std::memory_order_relaxed)) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
        timespec ts{time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
        int n = epoll_pwait2(epoll_fd_, events, max, &ts, nullptr);
        if (n >= 0 || errno != ENOSYS) return n;
        have_pwait2.store(false, std::memory_order_relaxed);  // kernel before 5.11
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
    return epoll_wait(epoll_fd_, events, max, int(ms));
}

void LoadWorker::run() {
    const auto timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(shared_.config.timeout_s));
    epoll_event events[256];
    auto next_timeout_check = Clock::now() + kMaxWait;
    for (;;) {
        auto now = Clock::now();
        if (shared_.stop.load(std::memory_order_relaxed) || now >= shared_.deadline) break;
        bool busy = false;
        for (auto& c : connections_) {
            if (c.phase == Phase::Idle && !out_of_requests_ && now >= c.due) {
                if (c.fd < 0) open(c);
                else begin_request(c, now);
            }
            busy |= c.phase == Phase::Writing || c.phase == Phase::Reading;
        }
        if (out_of_requests_ && !busy) break;
        int n = wait_events(events, 256, wait_time(now));
        for (int i = 0; i < n; ++i) {
            Connection& c = connections_[events[i].data.u32];
            uint32_t what = events[i].events;
            if (c.fd < 0) continue;
            switch (c.phase) {
                case Phase::Connecting: {
                    int err = 0;
                    socklen_t len = sizeof err;
                    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err != 0 || (what & (EPOLLERR | EPOLLHUP))) {
                        fail(c, LoadErrorKind::Connect);
                    } else if (what & EPOLLOUT) {
                        c.phase = Phase::Idle;  // the next pass starts its request when due
                        watch(c, EPOLL_CTL_MOD, false);
                    }
                    break;
                }
                case Phase::Writing:
                    if (what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) write_some(c);
                    break;
                case Phase::Reading:
                    if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_some(c);
                    break;
                case Phase::Idle: {
                    // Between requests only a close (or junk) is news; an edge for
                    // bytes already read is not.
                    char byte;
                    ssize_t peeked = recv(c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
                    if ((what & (EPOLLERR | EPOLLHUP)) || peeked >= 0 ||
                        (peeked < 0 && errno != EAGAIN))
                        close(c);
                    break;
                }
            }
        }
        now = Clock::now();
        if (now >= next_timeout_check) {
            next_timeout_check = now + kMaxWait;
            for (auto& c : connections_)
                if ((c.phase == Phase::Connecting || c.phase == Phase::Writing || c.phase == Phase::Reading) &&
                    now - c.sent_at > timeout)
                    fail(c, LoadErrorKind::Timeout);
        }
    }
}

}  // namespace mtd::loadgen
