// mtd-load: the built-in load generator from the command line, to compare it
// with wrk on the same target. Usage:
//   mtd-load [-t threads] [-c connections] [-d seconds] [-n requests]
//            [-R rate] [-H host] URL-path-on-127.0.0.1:PORT e.g. 8080/
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "loadgen/load_generator.hpp"

using namespace mtd::loadgen;

int main(int argc, char** argv) {
    LoadConfig config;
    int opt;
    while ((opt = getopt(argc, argv, "t:c:d:n:R:H:")) != -1) {
        switch (opt) {
            case 't': config.threads = std::atoi(optarg); break;
            case 'c': config.connections = std::atoi(optarg); break;
            case 'd': config.duration_s = std::atof(optarg); break;
            case 'n': config.requests = std::strtoull(optarg, nullptr, 10); config.duration_s = 0; break;
            case 'R': config.rate = std::atof(optarg); break;
            case 'H': config.host_header = optarg; break;
            default: std::fprintf(stderr, "usage: mtd-load [-t T] [-c C] [-d S] [-n N] [-R RATE] [-H HOST] PORT[/path]\n"); return 2;
        }
    }
    if (optind >= argc) { std::fprintf(stderr, "mtd-load: give PORT[/path]\n"); return 2; }
    std::string target = argv[optind];
    size_t slash = target.find('/');
    config.port = std::atoi(target.substr(0, slash).c_str());
    config.path = slash == std::string::npos ? "/" : target.substr(slash);
    try {
        LoadGenerator generator(config);
        generator.start();
        LoadReport r = generator.wait();
        std::printf("%llu requests in %.2fs, %.0f req/s, %llu errors\n",
                    (unsigned long long)r.requests, r.seconds, r.requests_per_second(),
                    (unsigned long long)r.error_count());
        std::printf("latency us: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
                    r.latency.percentile(0.5) / 1e3, r.latency.percentile(0.9) / 1e3,
                    r.latency.percentile(0.99) / 1e3, r.latency.percentile(0.999) / 1e3,
                    r.latency.max() / 1e3);
        for (size_t k = 0; k < kLoadErrorKinds; ++k)
            if (r.errors[k]) std::printf("  %s errors: %llu\n", load_error_name(LoadErrorKind(k)),
                                         (unsigned long long)r.errors[k]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mtd-load: %s\n", e.what());
        return 2;
    }
}
