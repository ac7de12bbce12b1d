// The built-in HTTP/1.1 load generator: T threads x C keep-alive
// connections against one URL, for a duration or a request count, either as
// fast as possible or at a fixed total rate. At a fixed rate each request has
// an intended start time and its latency is measured from that time, not
// from when it could be sent, so a stalled server is not hidden by the
// generator slowing down with it (no coordinated omission, as in wrk2).
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stats/latency_histogram.hpp"

namespace mtd::loadgen {

struct LoadConfig {
    std::string address = "127.0.0.1";  // IPv4 address to connect to
    int port = 8080;
    std::string host_header;  // Host header; empty: address:port
    std::string path = "/";
    int threads = 1;
    int connections = 8;      // in total, spread over the threads
    double duration_s = 10;   // 0: run until `requests` are done
    uint64_t requests = 0;    // 0: run until the duration ends
    double rate = 0;          // requests/s in total; 0: as fast as possible
    double timeout_s = 5;     // a response slower than this is an error
};

enum class LoadErrorKind : uint8_t { Connect, Write, Read, Timeout, Parse, Count };

constexpr const char* load_error_name(LoadErrorKind kind) {
    switch (kind) {
        case LoadErrorKind::Connect: return "connect";
        case LoadErrorKind::Write: return "write";
        case LoadErrorKind::Read: return "read";
        case LoadErrorKind::Timeout: return "timeout";
        case LoadErrorKind::Parse: return "parse";
        case LoadErrorKind::Count: break;
    }
    return "unknown";
}

constexpr size_t kLoadErrorKinds = size_t(LoadErrorKind::Count);

struct LoadReport {
    uint64_t requests = 0;  // responses received, whatever their status
    uint64_t body_bytes = 0;
    double seconds = 0;
    std::array<uint64_t, 6> status_classes{};  // [1] = 1xx ... [5] = 5xx, [0] = other
    std::array<uint64_t, kLoadErrorKinds> errors{};
    stats::LatencyHistogram latency;  // ns

    double requests_per_second() const { return seconds > 0 ? double(requests) / seconds : 0; }
    uint64_t error_count() const;
    void merge(const LoadReport& other);
};

struct LoadProgress {
    uint64_t completed = 0;
    uint64_t errors = 0;
    double elapsed_s = 0;
    bool done = false;
};

class LoadWorker;

class LoadGenerator {
public:
    // Throws std::invalid_argument for a config that cannot run.
    explicit LoadGenerator(LoadConfig config);
    ~LoadGenerator();
    LoadGenerator(const LoadGenerator&) = delete;
    LoadGenerator& operator=(const LoadGenerator&) = delete;

    void start();
    LoadProgress progress() const;  // cheap; safe from any thread while running
    void stop();                    // ends early; wait() then reports what was done
    LoadReport wait();              // blocks until done; later calls return the same report

    const LoadConfig& config() const { return config_; }

private:
    LoadConfig config_;
    std::string request_;  // the bytes every request sends
    std::vector<std::unique_ptr<LoadWorker>> workers_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> claimed_{0};  // requests handed out, for a fixed count
    std::atomic<int> running_{0};
    std::chrono::steady_clock::time_point started_;
    // wait() may run (GIL released) while another thread calls progress()
    // or wait(): joined_ is read by both, the mutex serialises the joins.
    std::mutex wait_mu_;
    std::atomic<bool> joined_{false};
    LoadReport report_;
};

}  // namespace mtd::loadgen
