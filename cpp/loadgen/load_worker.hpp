// One load generator thread: an epoll loop driving its share of the
// keep-alive connections, with its own report merged at the end.
#pragma once
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/http_response_parser.hpp"
#include "loadgen/load_generator.hpp"

namespace mtd::loadgen {

class LoadWorker {
public:
    using Clock = std::chrono::steady_clock;

    struct Shared {
        const LoadConfig& config;
        const std::string& request;      // the bytes of one request
        std::atomic<bool>& stop;
        std::atomic<uint64_t>& claimed;  // fixed-count mode
        Clock::time_point start, deadline;
    };

    LoadWorker(const Shared& shared, int first_connection, int connections);
    ~LoadWorker();

    void run();  // until the deadline, the count, or stop
    const LoadReport& report() const { return report_; }
    uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }
    uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

private:
    enum class Phase { Idle, Connecting, Writing, Reading };
    struct Connection {
        int fd = -1;
        Phase phase = Phase::Idle;
        Clock::time_point due;       // intended start of the next request
        Clock::time_point sent_at;   // start the latency is measured from (or of the connect)
        size_t written = 0;
        bool watching_writable = false;
        HttpResponseParser parser;
    };

    bool claim_request();
    void open(Connection& c);
    void watch(Connection& c, int op, bool writable);
    void begin_request(Connection& c, Clock::time_point now);
    void write_some(Connection& c);
    void read_some(Connection& c);
    void finish_response(Connection& c);
    void fail(Connection& c, LoadErrorKind kind);
    void close(Connection& c);
    void schedule_next(Connection& c, Clock::time_point now);
    Clock::duration wait_time(Clock::time_point now) const;
    int wait_events(epoll_event* events, int max, Clock::duration timeout);

    Shared shared_;
    int epoll_fd_ = -1;
    std::vector<Connection> connections_;
    std::chrono::nanoseconds interval_{0};  // per connection, at a fixed rate
    bool out_of_requests_ = false;
    LoadReport report_;
    std::atomic<uint64_t> completed_{0}, errors_{0};
    std::vector<char> buffer_;
};

}  // namespace mtd::loadgen
