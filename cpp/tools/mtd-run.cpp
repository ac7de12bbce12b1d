// mtd-run: developer front end to the sandbox.
//   mtd-run [--max-instructions N] [--max-memory BYTES] [--stats] ELF [args...]
//       runs ELF like qemu-riscv64 (run_to_exit): passes stdin/stdout/stderr
//       through and exits with the guest's exit code.
//   mtd-run --tenant ELF [--requests N] [--path P] [--cold KiB] [--cold-code PAGES]
//       Program::load + Machine::handle N times; prints the response and the
//       median/p99 ns per handle() (the sandbox fork benchmark). --cold and
//       --cold-code make each request start as a server's does (see
//       tenant_mode).
//   mtd-run --tenant ELF --profile [--path P]
//       runs init, then one request block by block and prints guest
//       instructions per function (from the ELF's symbol table), to see
//       what a request spends its instructions on.
#include <cxxabi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "mtd_abi.h"
#include "sandbox/elf_loader.hpp"
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

// --cold-code: many pages of code, each a lone `ret` on its own cache line.
// Calling into every page evicts the instruction TLB (and the branch
// targets) as the kernel's and the event loop's code do between a server's
// requests; writing memory (--cold) leaves both alone.
class CodePages {
public:
    explicit CodePages(size_t pages) : pages_(pages) {
        if (!pages_) return;
#if defined(__x86_64__)
        void* p = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || !fill(static_cast<unsigned char*>(p))) {
            std::fprintf(stderr, "mtd-run: --cold-code: cannot map %zu pages of code\n", pages_);
            std::exit(1);
        }
        code_ = static_cast<unsigned char*>(p);
#else
        std::fprintf(stderr, "mtd-run: --cold-code is for x86-64 hosts only\n");
        std::exit(2);
#endif
    }
    ~CodePages() {
        if (code_) munmap(code_, bytes());
    }
    CodePages(const CodePages&) = delete;
    CodePages& operator=(const CodePages&) = delete;

    void run() const {
        for (size_t i = 0; i < pages_; ++i) reinterpret_cast<void (*)()>(code_ + entry(i))();
    }

private:
    size_t bytes() const { return pages_ * 4096; }
    // Entries move through the lines of their pages, so they spread over
    // the cache sets too.
    static size_t entry(size_t i) { return i * 4096 + (i * 64) % 4096; }
    bool fill(unsigned char* p) const {
        for (size_t i = 0; i < pages_; ++i) p[entry(i)] = 0xc3;  // ret
        return mprotect(p, bytes(), PROT_READ | PROT_EXEC) == 0;
    }

    size_t pages_;
    unsigned char* code_ = nullptr;
};

static int tenant_mode(const char* path, int requests, const std::string& req_path, size_t cold_bytes,
                       size_t cold_code_pages) {
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
    // --cold: between requests, write over other memory as a server's
    // network stack and event loop do, so the sandbox starts cache-cold.
    std::vector<uint64_t> cold(cold_bytes / sizeof(uint64_t));
    const CodePages cold_code(cold_code_pages);
    for (int i = 0; i < requests; ++i) {
        for (size_t j = 0; j < cold.size(); j += 8) cold[j] += i;
        cold_code.run();
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
        std::fprintf(stderr, "[%zu requests: median %llu ns, p99 %llu ns, min %llu ns; %llu instructions/request, %llu bytes copied/request, %llu bytes charged to the memory limit]\n",
                     ns.size(), static_cast<unsigned long long>(ns[ns.size() / 2]),
                     static_cast<unsigned long long>(ns[std::min(ns.size() - 1, ns.size() * 99 / 100)]),
                     static_cast<unsigned long long>(ns[0]), static_cast<unsigned long long>(r.instructions),
                     static_cast<unsigned long long>(m.last_request_copied()),
                     static_cast<unsigned long long>(m.last_request_memory()));
    return r.outcome == Outcome::Responded ? 0 : 1;
}

// ---- --profile: guest instructions per function for one request

namespace sd = mtd::sandbox::detail;

struct Symbol {
    uint64_t addr, size;
    std::string name;
};

// FUNC symbols of a little-endian ELF64 (.symtab), sorted by address.
static std::vector<Symbol> elf_functions(const std::vector<uint8_t>& elf) {
    std::vector<Symbol> out;
    auto rd = [&](uint64_t off, int n) {
        uint64_t v = 0;
        if (off + n <= elf.size()) std::memcpy(&v, elf.data() + off, n);
        return v;
    };
    const uint64_t shoff = rd(0x28, 8), shentsize = rd(0x3a, 2), shnum = rd(0x3c, 2);
    for (uint64_t i = 0; i < shnum; ++i) {
        const uint64_t sh = shoff + i * shentsize;
        if (rd(sh + 4, 4) != 2) continue;  // SHT_SYMTAB
        const uint64_t off = rd(sh + 0x18, 8), size = rd(sh + 0x20, 8), link = rd(sh + 0x28, 4);
        const uint64_t stroff = rd(shoff + link * shentsize + 0x18, 8);
        for (uint64_t s = off; s + 24 <= off + size && s + 24 <= elf.size(); s += 24) {
            if ((rd(s + 4, 1) & 0xf) != 2) continue;  // STT_FUNC
            const uint64_t name = stroff + rd(s, 4);
            if (name >= elf.size()) continue;
            const char* mangled = reinterpret_cast<const char*>(elf.data() + name);
            int st = 0;
            char* dm = abi::__cxa_demangle(mangled, nullptr, nullptr, &st);
            out.push_back({rd(s + 8, 8), rd(s + 16, 8), st == 0 && dm ? dm : mangled});
            std::free(dm);
        }
    }
    std::sort(out.begin(), out.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
    return out;
}

struct StderrEnv final : sd::SysEnv {
    void output(int, std::string_view d) override { std::fwrite(d.data(), 1, d.size(), stderr); }
    int64_t input(uint8_t*, uint64_t) override { return -9; }
};

static int profile_mode(const char* path, const std::string& req_path) {
    const auto elf = read_file(path);
    auto arena = std::make_unique<sd::Arena>();
    auto core = std::make_unique<sd::Core>();
    sd::Text text;
    sd::Core& c = *core;
    c.mem.attach(arena.get(), 1ull << 30);
    if (std::string e = sd::load_elf(elf, c, text, {"app"}); !e.empty()) {
        std::fprintf(stderr, "mtd-run: load: %s\n", e.c_str());
        return 1;
    }
    c.text = &text;
    StderrEnv env;
    RequestView rv{"GET", req_path, "", "localhost", "host: localhost\n", ""};
    auto syscall = [&]() -> uint64_t {
        sd::SysCall call;
        if (sd::linux_syscall(c, env, call) != sd::SysAction::Continue) {
            std::fprintf(stderr, "mtd-run: guest exited (%d)\n", call.exit_code);
            std::exit(1);
        }
        return call.work;
    };
    for (;;) {  // init, at full speed
        if (c.run(10'000'000'000ull) != sd::Stop::Ecall) {
            std::fprintf(stderr, "mtd-run: init stopped at pc 0x%llx\n", static_cast<unsigned long long>(c.hart.pc));
            return 1;
        }
        if (c.hart.x[17] == MTD_ECALL_READY) {
            c.hart.x[10] = 0;
            c.retire_ecall();
            break;
        }
        c.retire_ecall(syscall());
    }
    // One request, one basic block per interpret() call: the budget is
    // checked at every taken jump, so a limit of instret + 1 stops there.
    std::map<uint64_t, uint64_t> blocks;  // block start pc -> instructions
    const uint64_t start = c.hart.instret;
    for (bool done = false; !done;) {
        const uint64_t pc0 = c.hart.pc, n0 = c.hart.instret;
        const uint64_t index = (pc0 - text.base) / 2;
        if (pc0 >= text.base && index < text.nslots) text.decode(index);  // records decode lazily
        const sd::Decoded& slot = text.slots()[std::min(index, text.nslots)];
        if (slot.op == sd::OP_NATIVE) {
            // A budget of one instruction cannot pay for a builtin: run it here.
            uint64_t charged = 0;
            if (sd::run_native(static_cast<sd::Native>(slot.imm), c.hart, c.mem, ~0ull >> 1, charged) !=
                sd::NativeStop::Done) {
                std::fprintf(stderr, "mtd-run: builtin stopped at pc 0x%llx\n", static_cast<unsigned long long>(pc0));
                return 1;
            }
            c.hart.instret += charged;
            c.hart.pc = c.hart.x[1] & ~1ull;
            blocks[pc0] += charged;
            continue;
        }
        const sd::Stop stop = sd::interpret(c.hart, c.mem, text, n0 + 1);
        if (stop == sd::Stop::Ecall) {
            uint64_t* x = c.hart.x;
            uint64_t work = 0;
            if (x[17] == MTD_ECALL_RESPOND) {
                done = true;
            } else if (x[17] == MTD_ECALL_REQUEST_FIELD) {
                std::string_view v = x[10] == MTD_FIELD_METHOD ? rv.method : x[10] == MTD_FIELD_PATH ? rv.path
                                   : x[10] == MTD_FIELD_HOST ? rv.host : x[10] == MTD_FIELD_HEADERS ? rv.headers
                                   : std::string_view{};
                c.mem.write_bytes(x[11], v.data(), std::min<uint64_t>(x[12], v.size()));
                x[10] = v.size();
            } else {
                work = syscall();
            }
            c.retire_ecall(work);
        } else if (stop != sd::Stop::Budget) {
            std::fprintf(stderr, "mtd-run: request stopped at pc 0x%llx\n", static_cast<unsigned long long>(c.hart.pc));
            return 1;
        }
        blocks[pc0] += c.hart.instret - n0;
    }
    const uint64_t total = c.hart.instret - start;
    const auto syms = elf_functions(elf);
    std::map<std::string, uint64_t> per_fn;
    for (auto [pc, n] : blocks) {
        auto it = std::upper_bound(syms.begin(), syms.end(), pc, [](uint64_t a, const Symbol& s) { return a < s.addr; });
        std::string name = "?";
        if (it != syms.begin() && pc < std::prev(it)->addr + std::max<uint64_t>(1, std::prev(it)->size))
            name = std::prev(it)->name;
        per_fn[name] += n;
    }
    std::vector<std::pair<uint64_t, std::string>> rows;
    for (auto& [name, n] : per_fn) rows.push_back({n, name});
    std::sort(rows.rbegin(), rows.rend());
    std::printf("%llu guest instructions in one request (%zu blocks)\n", static_cast<unsigned long long>(total), blocks.size());
    for (auto& [n, name] : rows)
        std::printf("%7llu  %5.1f%%  %s\n", static_cast<unsigned long long>(n), 100.0 * n / total, name.substr(0, 150).c_str());
    return 0;
}

int main(int argc, char** argv) {
    uint64_t max_instr = 10'000'000'000ull;
    uint64_t max_mem = 1ull << 30;
    bool stats = false;
    const char* tenant = nullptr;
    int requests = 1;
    std::string req_path = "/";
    bool profile = false;
    size_t cold_kib = 0, cold_code_pages = 0;
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
        else if (a == "--profile") profile = true;
        else if (a == "--cold") cold_kib = std::strtoull(next(), nullptr, 10);
        else if (a == "--cold-code") cold_code_pages = std::strtoull(next(), nullptr, 10);
        else if (a == "--") { ++i; break; }
        else {
            std::fprintf(stderr, "usage: mtd-run [--max-instructions N] [--max-memory B] [--stats] ELF [args...]\n"
                                 "       mtd-run --tenant ELF [--requests N] [--path P] [--profile]\n"
                                 "                      [--cold KiB] [--cold-code PAGES]\n");
            return 2;
        }
    }
    if (tenant && profile) return profile_mode(tenant, req_path);
    if (tenant) return tenant_mode(tenant, std::max(1, requests), req_path, cold_kib << 10, cold_code_pages);
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
