// run_to_exit: a static ELF as a plain process, the way qemu-riscv64 runs it.
#include "sandbox/run_to_exit.hpp"

#include <cstdio>
#include <cstring>
#include <algorithm>
#include <memory>

#include "elf_loader.hpp"
#include "translate/emitter.hpp"
#include "translate/translation.hpp"

namespace mtd::sandbox {
namespace {

struct ExitEnv final : detail::SysEnv {
    ExitResult* r;
    std::string_view in;
    size_t pos = 0;
    uint64_t cap = 0;  // bytes kept per stream: a chatty guest cannot exhaust the host
    bool frozen_host = detail::kFrozenHost;
    bool frozen() const override { return frozen_host; }
    void output(int fd, std::string_view data) override {
        std::string& s = fd == 2 ? r->stderr_data : r->stdout_data;
        if (s.size() < cap) s.append(data.substr(0, cap - s.size()));
    }
    int64_t input(uint8_t* dst, uint64_t n) override {
        const uint64_t k = std::min<uint64_t>(n, in.size() - pos);
        std::memcpy(dst, in.data() + pos, k);
        pos += k;
        return static_cast<int64_t>(k);
    }
};

}  // namespace

ExitResult run_to_exit(std::span<const uint8_t> elf, const std::vector<std::string>& argv,
                       std::string_view stdin_data, uint64_t max_instructions, uint64_t max_memory,
                       bool eager_decode, const Tiering& tiering) {
    ExitResult r;
    auto arena = std::make_unique<detail::Arena>();
    auto core = std::make_unique<detail::Core>();
    detail::Text text;
    core->mem.attach(arena.get(), max_memory);
    // Fixed AT_RANDOM: runs of one ELF can be compared (tests, fuzzers).
    static constexpr uint8_t kAtRandom[16] = {0x5a, 0x7f, 0x0e, 0x3d, 0x9c, 0xa1, 0x42, 0x6b,
                                              0xd8, 0x15, 0xe7, 0x30, 0xc9, 0x84, 0x2b, 0x56};
    if (std::string e = detail::load_elf(elf, *core, text, argv, false, kAtRandom); !e.empty()) {
        r.outcome = Outcome::Fault;
        r.reason = "load: " + e;
        return r;
    }
    if (eager_decode) text.decode_all();
    ExitEnv env;
    env.r = &r;
    env.in = stdin_data;
    env.cap = std::max<uint64_t>(max_memory, 1 << 20);
    env.frozen_host = detail::kFrozenHost || tiering.frozen;
    char buf[160];
    detail::Core& c = *core;
    std::vector<uint8_t> seen;
    if (tiering.emit) seen.assign(text.nslots + 2, 0);
    std::unique_ptr<translate::Translation> translation;
    if (!tiering.shared_object.empty()) translation = translate::Translation::load(tiering.shared_object, text);
    auto run = [&] {
        if (translation)
            return translate::run_translated(c.hart, c.mem, text, *translation, max_instructions,
                                             r.translated_instructions);
        if (tiering.emit) return detail::interpret_profiled(c.hart, c.mem, text, max_instructions, seen.data());
        return c.run(max_instructions);
    };
    for (;;) {
        const detail::Stop stop = run();
        if (stop == detail::Stop::Budget) {
            r.outcome = Outcome::BudgetExhausted;
            r.reason = "instruction budget exhausted";
            break;
        }
        if (stop == detail::Stop::MemoryLimit) {
            r.outcome = Outcome::MemoryExhausted;
            r.reason = "memory limit exceeded";
            break;
        }
        if (stop == detail::Stop::Fault) {
            detail::stop_detail(c, stop, buf, sizeof buf);
            r.outcome = Outcome::Fault;
            r.reason = buf;
            // What a shell reports for the signal Linux would deliver.
            switch (c.hart.fault) {
                case detail::Fault::Illegal: r.exit_code = 128 + 4; break;     // SIGILL
                case detail::Fault::Breakpoint: r.exit_code = 128 + 5; break;  // SIGTRAP
                case detail::Fault::Misaligned: r.exit_code = 128 + 7; break;  // SIGBUS
                default: r.exit_code = 128 + 11; break;                        // SIGSEGV
            }
            break;
        }
        // The tenant ABI ecalls are not Linux system calls: like under
        // qemu-riscv64 they fail with -ENOSYS, which is how the guest shim
        // knows it runs standalone (it then serves one GET / to stdout).
        detail::SysCall call;
        call.budget = c.hart.instret < max_instructions ? max_instructions - c.hart.instret - 1 : 0;
        const detail::SysAction act = detail::linux_syscall(c, env, call);
        if (act == detail::SysAction::Exit) {
            r.outcome = Outcome::Exited;
            r.exit_code = call.exit_code;
            c.retire_ecall();
            break;
        }
        if (act == detail::SysAction::Abort) {
            std::snprintf(buf, sizeof buf, "abort (signal %d) at pc 0x%llx", call.exit_code - 128,
                          static_cast<unsigned long long>(c.hart.pc));
            r.outcome = Outcome::Fault;
            r.reason = buf;
            r.exit_code = call.exit_code;
            break;
        }
        if (act == detail::SysAction::Budget) {
            r.outcome = Outcome::BudgetExhausted;
            r.reason = "instruction budget exhausted";
            break;
        }
        if (c.mem.oom()) {
            r.outcome = Outcome::MemoryExhausted;
            r.reason = "memory limit exceeded";
            break;
        }
        c.retire_ecall(call.work);
    }
    r.instructions = c.hart.instret;
    std::copy(c.hart.x, c.hart.x + 32, r.x.begin());
    std::copy(c.hart.f, c.hart.f + 32, r.f.begin());  // its own: nothing here forks
    if (tiering.emit) {
        r.translation_source = translate::emit_translation(text, translate::entries_run(seen, tiering.min_runs)).source;
    }
    r.decoded_units = text.decoded_units();
    r.text_units = text.code_units();
    return r;
}

}  // namespace mtd::sandbox
