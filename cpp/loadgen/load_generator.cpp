#include "loadgen/load_generator.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

#include "loadgen/load_worker.hpp"

namespace mtd::loadgen {

uint64_t LoadReport::error_count() const {
    uint64_t total = 0;
    for (uint64_t e : errors) total += e;
    return total;
}

void LoadReport::merge(const LoadReport& other) {
    requests += other.requests;
    body_bytes += other.body_bytes;
    for (size_t i = 0; i < status_classes.size(); ++i) status_classes[i] += other.status_classes[i];
    for (size_t i = 0; i < errors.size(); ++i) errors[i] += other.errors[i];
    latency.merge(other.latency);
}

LoadGenerator::LoadGenerator(LoadConfig config) : config_(std::move(config)) {
    if (config_.address == "localhost") config_.address = "127.0.0.1";
    in_addr probe{};
    if (inet_pton(AF_INET, config_.address.c_str(), &probe) != 1)
        throw std::invalid_argument("address must be an IPv4 address, got '" + config_.address + "'");
    if (config_.port <= 0 || config_.port > 65535) throw std::invalid_argument("port out of range");
    if (config_.threads < 1) throw std::invalid_argument("threads must be at least 1");
    if (config_.connections < config_.threads)
        throw std::invalid_argument("connections must be at least the number of threads");
    if (config_.duration_s <= 0 && config_.requests == 0)
        throw std::invalid_argument("give a duration, a request count, or both");
    if (config_.rate < 0 || config_.timeout_s <= 0)
        throw std::invalid_argument("rate must be >= 0 and timeout > 0");
    if (config_.path.empty() || config_.path[0] != '/')
        throw std::invalid_argument("path must start with '/'");
    std::string host = config_.host_header.empty()
                           ? config_.address + ":" + std::to_string(config_.port)
                           : config_.host_header;
    request_ = "GET " + config_.path + " HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: mtd-loadgen\r\n\r\n";
}

LoadGenerator::~LoadGenerator() {
    stop();
    wait();
}

void LoadGenerator::start() {
    if (!threads_.empty() || joined_) throw std::logic_error("load generator already started");
    started_ = std::chrono::steady_clock::now();
    auto deadline = config_.duration_s > 0
                        ? started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                         std::chrono::duration<double>(config_.duration_s))
                        : std::chrono::steady_clock::time_point::max();
    LoadWorker::Shared shared{config_, request_, stop_, claimed_, started_, deadline};
    int first = 0;
    for (int t = 0; t < config_.threads; ++t) {
        int share = config_.connections / config_.threads + (t < config_.connections % config_.threads);
        workers_.push_back(std::make_unique<LoadWorker>(shared, first, share));
        first += share;
    }
    running_ = config_.threads;
    for (auto& worker : workers_)
        threads_.emplace_back([this, w = worker.get()] {
            w->run();
            running_.fetch_sub(1);
        });
}

LoadProgress LoadGenerator::progress() const {
    LoadProgress p;
    for (const auto& worker : workers_) {
        p.completed += worker->completed();
        p.errors += worker->errors();
    }
    if (!workers_.empty())
        p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    p.done = joined_ || (!workers_.empty() && running_.load() == 0);
    return p;
}

void LoadGenerator::stop() { stop_ = true; }

LoadReport LoadGenerator::wait() {
    std::lock_guard lock(wait_mu_);
    if (joined_ || threads_.empty()) return report_;
    for (auto& t : threads_) t.join();
    auto finished = std::chrono::steady_clock::now();
    report_ = LoadReport{};
    for (const auto& worker : workers_) report_.merge(worker->report());
    report_.seconds = std::chrono::duration<double>(finished - started_).count();
    if (config_.duration_s > 0) report_.seconds = std::min(report_.seconds, config_.duration_s);
    joined_ = true;
    return report_;
}

}  // namespace mtd::loadgen
