// Machine: fork the program's master copy-on-write, resume after
// MTD_ECALL_READY, serve the tenant ABI ecalls slice by slice, and throw the
// fork away at the next start().
#include "sandbox/machine.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>

#include "common/hot_path.hpp"
#include "common/monotonic_ns.hpp"
#include "mtd_abi.h"
#include "program_state.hpp"

namespace mtd::sandbox {

struct Machine::State final : detail::SysEnv {
    detail::Arena arena;       // this thread's copied pages, kept while the program stays the same
    detail::Arena leaf_arena;  // copied leaves, kept while the program stays the same
    detail::Core core;
    uint64_t last_program = 0;  // id of the master the top level came from
    const Program* program = nullptr;
    char reason[160] = "";      // RunResult::reason for faults (see start())

    // The request in progress (see start()).
    const translate::Translation* translation = nullptr;  // the program's, read at start()
    uint8_t* profile = nullptr;
    uint64_t translated_instret = 0;
    Slice slice;
    uint64_t first_instret = 0;  // instret when the request started
    uint64_t limit = 0;          // instret at which its budget is exhausted

    // first: the request's first slice, which the server runs on its
    // worker's event loop (start()); later ones run on the long-request
    // thread (resume()).
    bool run_slice(const RequestView& request, Response& out, RunResult& r, bool first);
    // Runs the guest up to `limit` in the request's tier (core.hpp: run).
    detail::Stop run_guest(uint64_t limit) {
        detail::Core& c = core;
        if (profile) return detail::interpret_profiled(c.hart, c.mem, *c.text, limit, profile);
        if (translation) return translate::run_translated(c.hart, c.mem, *c.text, *translation, limit, translated_instret);
        return c.run(limit);
    }
    // Sets r to how the request ended; true, for run_slice to return.
    bool finish(RunResult& r, Outcome o, const char* why) const {
        r = {o, why, core.hart.instret - first_instret};
        return true;
    }

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
uint64_t Machine::request_instructions() const { return state_->core.hart.instret - state_->first_instret; }
uint64_t Machine::request_translated_instructions() const { return state_->translated_instret; }
void Machine::profile_into(uint8_t* entries_run) { state_->profile = entries_run; }

namespace {

std::string_view field(const RequestView& r, uint64_t id) {
    switch (id) {
        case MTD_FIELD_METHOD: return r.method;
        case MTD_FIELD_PATH: return r.path;
        case MTD_FIELD_QUERY: return r.query;
        case MTD_FIELD_HOST: return r.host;
        case MTD_FIELD_HEADERS: return r.all_headers();
        case MTD_FIELD_BODY: return r.body;
    }
    return {};
}

// Copies guest bytes into a reused std::string (grows once, then reused).
MTD_HOT_PATH
bool copy_out(const detail::Memory& m, uint64_t addr, uint64_t len, std::string& dst) {
    dst.resize(len);
    return m.read_bytes(addr, dst.data(), len);
}

}  // namespace

// Fault reasons include the faulting address and are formatted into a
// per-Machine buffer: RunResult::reason stays valid until the next start()
// on this Machine. Every other reason is a string literal.
MTD_HOT_PATH
bool Machine::start(const Program& program, const RequestView& request, Response& out, const Slice& slice,
                    RunResult& result) {
    State& s = *state_;
    const Program::State& ps = *program.state_;
    detail::Core& c = s.core;
    s.program = &program;
    s.slice = slice;

    // ---- fork
    c.mem.fork_from(ps.master.mem, s.last_program == ps.id);
    s.last_program = ps.id;
    c.mem.set_limit(program.limits().request_memory);
    c.hart.fork_from(ps.master.hart);
    c.text = &ps.text;
    s.translation = ps.translation.load(std::memory_order_acquire);
    s.translated_instret = 0;
    c.hart.x[10] = 0;  // MTD_ECALL_READY returns 0 in every request

    s.first_instret = c.hart.instret;
    s.limit = s.first_instret + program.limits().request_instructions;
    return s.run_slice(request, out, result, true);
}

bool Machine::resume(const RequestView& request, Response& out, RunResult& result) {
    return state_->run_slice(request, out, result, false);
}

void Machine::recycle() {
    State& s = *state_;
    s.core.mem.release();
    s.last_program = 0;  // nothing of it is kept
    s.program = nullptr;
}

MTD_HOT_PATH
RunResult Machine::handle(const Program& program, const RequestView& request, Response& out) {
    RunResult r;
    if (!start(program, request, out, Slice::whole(), r))
        while (!resume(request, out, r)) {}
    return r;
}

// Runs until the request finishes (true, r set) or the slice is used up
// (false). A slice ends at a block entry or right after an ecall, where
// the hart holds the whole state, so the next slice just carries on.
MTD_HOT_PATH
bool Machine::State::run_slice(const RequestView& request, Response& out, RunResult& r, bool first) {
    detail::Core& c = core;
    const Limits& lim = program->limits();
    // Saturating: Slice::whole() asks for ~0 of everything.
    auto after = [](uint64_t a, uint64_t n) -> uint64_t { return n > ~a ? ~uint64_t{0} : a + n; };
    const uint64_t slice_start = c.hart.instret;
    uint64_t slice_end = std::min(limit, after(slice_start, slice.instructions));
    const uint64_t ecall_cost = slice.instructions == ~0ull ? 0 : Slice::kEcallInstructions;
    uint64_t clock_start = 0;  // read at the first slow ecall of the slice
    auto out_of_time = [&] {
        if (slice.nanos == ~0ull) return false;
        const uint64_t now = monotonic_ns();
        if (!clock_start) clock_start = now;
        return now - clock_start >= slice.nanos;
    };
    c.mem.start_slice(slice.pages);
    // Work that cannot be split (a builtin's or a system call's) and does
    // not fit in what is left of the slice waits for the next slice. If
    // nothing else ran in this slice it could never fit: it runs now, on the
    // budget alone, except in the first slice, which runs on the worker's
    // event loop: it waits too, and runs on the long-request thread.
    auto must_fit_slice = [&] { return c.hart.instret != slice_start || first; };

    for (;;) {
        const detail::Stop stop = run_guest(slice_end);
        switch (stop) {
            case detail::Stop::Ecall: break;
            case detail::Stop::Budget:
                if (c.hart.instret < limit) {
                    if (c.mem.slice_spent()) return false;  // the page quota ended the slice
                    if (slice_end < limit) {
                        // A builtin that costs more than the slice has left
                        // (natives.hpp) waits at its entry.
                        if (must_fit_slice()) return false;
                        slice_end = limit;
                        continue;
                    }
                    // Stopped short of the limit itself: a builtin the
                    // budget cannot pay for, which never starts.
                }
                return finish(r, Outcome::BudgetExhausted, "instruction budget exhausted");
            case detail::Stop::MemoryLimit:
                return finish(r, Outcome::MemoryExhausted, "memory limit exceeded");
            case detail::Stop::Fault:
            case detail::Stop::Translated:  // run_translated never returns it
                detail::stop_detail(c, stop, reason, sizeof reason);
                return finish(r, Outcome::Fault, reason);
        }
        uint64_t* x = c.hart.x;
        const uint64_t nr = x[17];
        bool slow = false;  // may have taken long: look at the clock
        if (nr == MTD_ECALL_RESPOND) {
            const uint64_t ct = x[11], ct_len = x[12], body = x[13], body_len = x[14];
            if (ct_len > lim.response_bytes || body_len > lim.response_bytes ||
                ct_len + body_len > lim.response_bytes)
                return finish(r, Outcome::ResponseTooLarge, "response larger than the response_bytes limit");
            if (!copy_out(c.mem, ct, ct_len, out.content_type) || !copy_out(c.mem, body, body_len, out.body)) {
                std::snprintf(reason, sizeof reason, "respond: unreadable buffer at pc 0x%llx",
                              static_cast<unsigned long long>(c.hart.pc));
                return finish(r, Outcome::Fault, reason);
            }
            // Saturated, not truncated: 2^32 + 204 must not become 204.
            out.status = static_cast<int>(std::clamp<int64_t>(static_cast<int64_t>(x[10]), INT_MIN, INT_MAX));
            c.retire_ecall();
            return finish(r, Outcome::Responded, "");
        }
        uint64_t work = 0;  // charged to the budget with the ecall (core.hpp: SysCall)
        if (nr == MTD_ECALL_REQUEST_FIELD) {
            const std::string_view v = field(request, x[10]);
            const uint64_t n = std::min<uint64_t>(x[12], v.size());
            work = n / 8;
            if (work >= limit - c.hart.instret) return finish(r, Outcome::BudgetExhausted, "instruction budget exhausted");
            if (work >= slice_end - std::min(slice_end, c.hart.instret) && must_fit_slice()) return false;
            if (x[10] > MTD_FIELD_BODY) {
                x[10] = static_cast<uint64_t>(-22);  // -EINVAL
            } else if (n && !c.mem.write_bytes(x[11], v.data(), n)) {
                if (c.mem.oom()) return finish(r, Outcome::MemoryExhausted, "memory limit exceeded");
                std::snprintf(reason, sizeof reason, "request_field: unwritable buffer at 0x%llx (pc 0x%llx)",
                              static_cast<unsigned long long>(x[11]),
                              static_cast<unsigned long long>(c.hart.pc));
                return finish(r, Outcome::Fault, reason);
            } else {
                x[10] = v.size();
            }
            slow = n >= 4096;
        } else if (nr == MTD_ECALL_READY) {
            x[10] = 0;  // already initialised: harmless
        } else {
            detail::SysCall call;
            call.budget = limit - c.hart.instret - 1;  // what is left after the ecall itself
            if (must_fit_slice()) call.slice = slice_end - std::min(slice_end, c.hart.instret + 1);
            const detail::SysAction act = detail::linux_syscall(c, *this, call);
            if (act == detail::SysAction::Later) return false;
            if (act == detail::SysAction::Exit) return finish(r, Outcome::NoResponse, "guest exited without responding");
            if (act == detail::SysAction::Abort) {
                std::snprintf(reason, sizeof reason, "abort (signal %d) at pc 0x%llx", call.exit_code - 128,
                              static_cast<unsigned long long>(c.hart.pc));
                return finish(r, Outcome::Fault, reason);
            }
            if (act == detail::SysAction::Budget) return finish(r, Outcome::BudgetExhausted, "instruction budget exhausted");
            if (c.mem.oom()) return finish(r, Outcome::MemoryExhausted, "memory limit exceeded");
            work = call.work;
            slow = true;
        }
        c.retire_ecall(work);
        slice_end = std::max(c.hart.instret, slice_end - std::min(slice_end, ecall_cost));
        if (c.hart.instret >= slice_end && c.hart.instret < limit) return false;
        if (c.mem.slice_spent() || (slow && out_of_time())) return false;
    }
}

}  // namespace mtd::sandbox
