// mtd-run: developer front end to the sandbox.
//   mtd-run [--max-instructions N] [--max-memory BYTES] [--stats] ELF [args...]
//       runs ELF like qemu-riscv64 (run_to_exit): passes stdin/stdout/stderr
//       through and exits with the guest's exit code.
//   mtd-run --tenant ELF [--requests N] [--path P]
//       Program::load + Machine::handle N times; prints the response and the
//       median/p99 ns per handle() (the sandbox fork benchmark).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "sandbox/machine.hpp"
#include "sandbox/program.hpp"
#include "sandbox/run_to_exit.hpp"

using namespace mtd::sandbox;

static std::vector<uint8_t> read_file(const char* path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "mtd-run: cannot open %s\n", path);
        std::exit(127);
    }
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

static int tenant_mode(const char* path, int requests, const std::string& req_path) {
    auto elf = read_file(path);
    Limits limits;
    std::shared_ptr<const Program> prog;
    try {
        prog = Program::load(elf, limits, [](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stderr); });
    } catch (const LoadError& e) {
        std::fprintf(stderr, "mtd-run: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "[init: %llu instructions]\n",
                 static_cast<unsigned long long>(prog->init_instructions_used()));
    Machine m;
    Response resp;
    RequestView rv{"GET", req_path, "", "localhost", "host: localhost\n", ""};
    std::vector<uint64_t> ns;
    ns.reserve(requests);
    RunResult r;
    for (int i = 0; i < requests; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        r = m.handle(*prog, rv, resp);
        auto t1 = std::chrono::steady_clock::now();
        ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
        if (r.outcome != Outcome::Responded) break;
    }
    if (r.outcome == Outcome::Responded) {
        std::printf("%d %s\n\n", resp.status, resp.content_type.c_str());
        std::fwrite(resp.body.data(), 1, resp.body.size(), stdout);
    } else {
        std::fprintf(stderr, "mtd-run: %s: %s (%llu instructions)\n", outcome_name(r.outcome), r.reason,
                     static_cast<unsigned long long>(r.instructions));
    }
    std::sort(ns.begin(), ns.end());
    if (!ns.empty())
        std::fprintf(stderr, "[%zu requests: median %llu ns, p99 %llu ns, min %llu ns; %llu instructions/request, %llu KiB copied/request]\n",
                     ns.size(), static_cast<unsigned long long>(ns[ns.size() / 2]),
                     static_cast<unsigned long long>(ns[std::min(ns.size() - 1, ns.size() * 99 / 100)]),
                     static_cast<unsigned long long>(ns[0]), static_cast<unsigned long long>(r.instructions),
                     static_cast<unsigned long long>(m.last_request_memory() / 1024));
    return r.outcome == Outcome::Responded ? 0 : 1;
}

int main(int argc, char** argv) {
    uint64_t max_instr = 10'000'000'000ull;
    uint64_t max_mem = 1ull << 30;
    bool stats = false;
    const char* tenant = nullptr;
    int requests = 1;
    std::string req_path = "/";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "mtd-run: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--max-instructions") max_instr = std::strtoull(next(), nullptr, 0);
        else if (a == "--max-memory") max_mem = std::strtoull(next(), nullptr, 0);
        else if (a == "--stats") stats = true;
        else if (a == "--tenant") tenant = next();
        else if (a == "--requests") requests = std::atoi(next());
        else if (a == "--path") req_path = next();
        else if (a == "--") { ++i; break; }
        else {
            std::fprintf(stderr, "usage: mtd-run [--max-instructions N] [--max-memory B] [--stats] ELF [args...]\n"
                                 "       mtd-run --tenant ELF [--requests N] [--path P]\n");
            return 2;
        }
    }
    if (tenant) return tenant_mode(tenant, std::max(1, requests), req_path);
    if (i >= argc) {
        std::fprintf(stderr, "mtd-run: no ELF given\n");
        return 2;
    }
    auto elf = read_file(argv[i]);
    std::vector<std::string> args(argv + i, argv + argc);
    std::string input;
    if (!isatty(0)) input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    auto t0 = std::chrono::steady_clock::now();
    ExitResult r = run_to_exit(elf, args, input, max_instr, max_mem);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fwrite(r.stdout_data.data(), 1, r.stdout_data.size(), stdout);
    std::fflush(stdout);
    std::fwrite(r.stderr_data.data(), 1, r.stderr_data.size(), stderr);
    if (stats || r.outcome != Outcome::Exited)
        std::fprintf(stderr, "[mtd-run: %s%s%s, exit %d, %llu instructions, %.3f s, %.1f MIPS]\n",
                     outcome_name(r.outcome), r.reason.empty() ? "" : ": ", r.reason.c_str(), r.exit_code,
                     static_cast<unsigned long long>(r.instructions), secs, r.instructions / secs / 1e6);
    if (r.outcome == Outcome::Exited || r.outcome == Outcome::Responded) return r.exit_code;
    return r.exit_code ? r.exit_code : 125;
}
