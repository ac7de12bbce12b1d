// Machine::handle: fork the program's master copy-on-write, resume after
// MTD_ECALL_READY, serve the tenant ABI ecalls, and throw the fork away.
#include "sandbox/machine.hpp"

#include <algorithm>
#include <cstdio>

#include "mtd_abi.h"
#include "program_state.hpp"

namespace mtd::sandbox {

struct Machine::State final : detail::SysEnv {
    detail::Arena arena;       // this thread's copied pages, kept while the program stays the same
    detail::Arena leaf_arena;  // copied leaves, kept while the program stays the same
    detail::Core core;
    uint64_t last_program = 0;  // id of the master the top level came from
    const Program* program = nullptr;
    char reason[160] = "";      // RunResult::reason for faults (see handle())

    void output(int, std::string_view data) override {
        if (program->log()) program->log()(data);
    }
    int64_t input(uint8_t*, uint64_t) override { return -9; }  // -EBADF
};

Machine::Machine() : state_(std::make_unique<State>()) {
    state_->core.mem.attach(&state_->arena, 0, &state_->leaf_arena);
    state_->core.mem.keep_copies();  // without it (no address space to reserve) forks just copy more
}
Machine::~Machine() = default;

uint64_t Machine::last_request_memory() const { return state_->core.mem.used_bytes(); }
uint64_t Machine::last_request_copied() const { return state_->core.mem.copied_bytes(); }

namespace {

std::string_view field(const RequestView& r, uint64_t id) {
    switch (id) {
        case MTD_FIELD_METHOD: return r.method;
        case MTD_FIELD_PATH: return r.path;
        case MTD_FIELD_QUERY: return r.query;
        case MTD_FIELD_HOST: return r.host;
        case MTD_FIELD_HEADERS: return r.headers;
        case MTD_FIELD_BODY: return r.body;
    }
    return {};
}

// Copies guest bytes into a reused std::string (grows once, then reused).
bool copy_out(const detail::Memory& m, uint64_t addr, uint64_t len, std::string& dst) {
    dst.resize(len);
    return m.read_bytes(addr, dst.data(), len);
}

}  // namespace

// Fault reasons include the faulting address and are formatted into a
// per-Machine buffer: RunResult::reason stays valid until the next handle()
// on this Machine. Every other reason is a string literal.
RunResult Machine::handle(const Program& program, const RequestView& request, Response& out) {
    State& s = *state_;
    const Program::State& ps = *program.state_;
    const Limits& lim = program.limits();
    detail::Core& c = s.core;
    s.program = &program;

    // ---- fork
    c.mem.fork_from(ps.master.mem, s.last_program == ps.id);
    s.last_program = ps.id;
    c.mem.set_limit(lim.request_memory);
    c.hart = ps.master.hart;
    c.text = &ps.text;
    c.rng = ps.master.rng;
    c.hart.x[10] = 0;  // MTD_ECALL_READY returns 0 in every request

    const uint64_t start = c.hart.instret;
    const uint64_t limit = start + lim.request_instructions;
    RunResult r;
    auto finish = [&](Outcome o, const char* why) {
        r.outcome = o;
        r.reason = why;
        r.instructions = c.hart.instret - start;
        return r;
    };

    for (;;) {
        const detail::Stop stop = c.run(limit);
        switch (stop) {
            case detail::Stop::Ecall: break;
            case detail::Stop::Budget: return finish(Outcome::BudgetExhausted, "instruction budget exhausted");
            case detail::Stop::MemoryLimit: return finish(Outcome::MemoryExhausted, "memory limit exceeded");
            case detail::Stop::Fault:
                detail::stop_detail(c, stop, s.reason, sizeof s.reason);
                return finish(Outcome::Fault, s.reason);
        }
        uint64_t* x = c.hart.x;
        const uint64_t nr = x[17];
        if (nr == MTD_ECALL_RESPOND) {
            const uint64_t ct = x[11], ct_len = x[12], body = x[13], body_len = x[14];
            if (ct_len > lim.response_bytes || body_len > lim.response_bytes ||
                ct_len + body_len > lim.response_bytes)
                return finish(Outcome::ResponseTooLarge, "response larger than the response_bytes limit");
            if (!copy_out(c.mem, ct, ct_len, out.content_type) || !copy_out(c.mem, body, body_len, out.body)) {
                std::snprintf(s.reason, sizeof s.reason, "respond: unreadable buffer at pc 0x%llx",
                              static_cast<unsigned long long>(c.hart.pc));
                return finish(Outcome::Fault, s.reason);
            }
            out.status = static_cast<int>(static_cast<int64_t>(x[10]));
            c.retire_ecall();
            return finish(Outcome::Responded, "");
        }
        if (nr == MTD_ECALL_REQUEST_FIELD) {
            const std::string_view v = field(request, x[10]);
            const uint64_t n = std::min<uint64_t>(x[12], v.size());
            if (x[10] > MTD_FIELD_BODY) {
                x[10] = static_cast<uint64_t>(-22);  // -EINVAL
            } else if (n && !c.mem.write_bytes(x[11], v.data(), n)) {
                if (c.mem.oom()) return finish(Outcome::MemoryExhausted, "memory limit exceeded");
                std::snprintf(s.reason, sizeof s.reason,
                              "request_field: unwritable buffer at 0x%llx (pc 0x%llx)",
                              static_cast<unsigned long long>(x[11]),
                              static_cast<unsigned long long>(c.hart.pc));
                return finish(Outcome::Fault, s.reason);
            } else {
                x[10] = v.size();
            }
        } else if (nr == MTD_ECALL_READY) {
            x[10] = 0;  // already initialised: harmless
        } else {
            int code = 0;
            const detail::SysAction act = detail::linux_syscall(c, s, code);
            if (act == detail::SysAction::Exit) return finish(Outcome::NoResponse, "guest exited without responding");
            if (act == detail::SysAction::Abort) {
                std::snprintf(s.reason, sizeof s.reason, "abort (signal %d) at pc 0x%llx", code - 128,
                              static_cast<unsigned long long>(c.hart.pc));
                return finish(Outcome::Fault, s.reason);
            }
            if (c.mem.oom()) return finish(Outcome::MemoryExhausted, "memory limit exceeded");
        }
        c.retire_ecall();
    }
}

}  // namespace mtd::sandbox
