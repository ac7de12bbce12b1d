// Program::load: ELF -> decoded text + master machine run to MTD_ECALL_READY.
#include <cstdio>
#include <utility>

#include "elf_loader.hpp"
#include "mtd_abi.h"
#include "program_state.hpp"
#include "sandbox/machine.hpp"
#include "translate/emitter.hpp"

namespace mtd::sandbox {
namespace {

struct InitEnv final : detail::SysEnv {
    const LogSink* log;
    void output(int, std::string_view data) override {
        if (*log) (*log)(data);
    }
    int64_t input(uint8_t*, uint64_t) override { return -9; }  // -EBADF: no stdin
};

[[noreturn]] void fail(const std::string& why) { throw LoadError("on_init: " + why); }

// A request whose result nobody sees, so that the code a request runs is
// decoded (and the pages it reads are mapped) before the first real request
// arrives. Its fork is thrown away like any other; the caller silences the
// log.
void warm_up(const Program& p, uint8_t* profile = nullptr) {
    Machine m;
    m.profile_into(profile);
    Response out;
    const RequestView request{"GET", "/", "", "localhost", "host: localhost\n", ""};
    m.handle(p, request, out);
}

}  // namespace

Program::Program() = default;
Program::~Program() = default;

uint64_t Program::init_instructions_used() const { return state_->init_instructions; }

std::shared_ptr<const Program> Program::load(std::span<const uint8_t> elf, const Limits& limits,
                                             LogSink log) {
    std::shared_ptr<Program> p(new Program());
    p->limits_ = limits;
    p->log_ = std::move(log);
    p->state_ = std::make_unique<State>();
    State& s = *p->state_;
    s.id = detail::next_program_id();
    detail::Core& c = s.master;
    c.mem.attach(&s.arena, limits.init_memory);

    // Segment pages come from a private file copy of the ELF when the host
    // allows one (pages nobody reads then cost no memory), else are copied.
    const bool mapped = elf.size() <= detail::kMaxElfBytes && s.image.create(elf);  // else load_elf refuses it
    if (std::string e = detail::load_elf(mapped ? s.image.bytes() : elf, c, s.text, {}, mapped); !e.empty())
        throw LoadError("load: " + e);

    InitEnv env;
    env.log = &p->log_;
    const uint64_t limit = limits.init_instructions;
    char detail_buf[160];
    for (;;) {
        const detail::Stop stop = c.run(limit);
        if (stop != detail::Stop::Ecall) {
            detail::stop_detail(c, stop, detail_buf, sizeof detail_buf);
            fail(detail_buf);
        }
        const uint64_t nr = c.hart.x[17];
        if (nr == MTD_ECALL_READY) {
            c.retire_ecall();
            break;
        }
        if (nr == MTD_ECALL_RESPOND || nr == MTD_ECALL_REQUEST_FIELD) {
            std::snprintf(detail_buf, sizeof detail_buf, "request ecall 0x%llx before ready at pc 0x%llx",
                          static_cast<unsigned long long>(nr), static_cast<unsigned long long>(c.hart.pc));
            fail(detail_buf);
        }
        detail::SysCall call;
        call.budget = c.hart.instret < limit ? limit - c.hart.instret - 1 : 0;
        const detail::SysAction act = detail::linux_syscall(c, env, call);
        if (act == detail::SysAction::Exit) fail("exited with code " + std::to_string(call.exit_code) + " before ready");
        if (act == detail::SysAction::Abort) {
            std::snprintf(detail_buf, sizeof detail_buf, "abort (signal %d) at pc 0x%llx", call.exit_code - 128,
                          static_cast<unsigned long long>(c.hart.pc));
            fail(detail_buf);
        }
        if (act == detail::SysAction::Budget) fail("instruction budget exhausted");
        if (c.mem.oom()) fail("memory limit exceeded");
        c.retire_ecall(call.work);
    }
    s.init_instructions = c.hart.instret;
    c.mem.seal();
    // Most of what init decoded or read (start-up, on_init) is not needed
    // again: give it back, then decode what a request runs. Nothing else
    // can run this Program yet.
    s.text.forget();
    s.image.release_touched();
    c.mem.trim_sealed();
    std::string().swap(c.iobuf);  // the master never runs (or writes) again
    LogSink sink = std::exchange(p->log_, LogSink{});
    warm_up(*p);
    // That read the request path's code from the file, only to decode it.
    // Drop it, and map back what a request reads as data, so the first real
    // request takes no page faults there.
    s.image.release_touched();
    s.profile.assign(s.text.nslots + 2, 0);
    warm_up(*p, s.profile.data());  // and note what it runs: what to translate
    p->log_ = std::move(sink);
    return p;
}

TranslationSource Program::translation_source() const {
    // Everything a request ran: in a server it runs for every request.
    std::lock_guard lock(state_->translation_mu);  // profile() may be counting
    const translate::Emitted e = translate::emit_translation(state_->text, translate::entries_run(state_->profile, 1));
    return {e.source, e.entries, e.instructions};
}

void Program::attach_translation(const std::string& shared_object) const {
    State& s = *state_;
    std::lock_guard lock(s.translation_mu);
    if (s.translation_owner) throw std::runtime_error("program already has a translation");
    s.translation_owner = translate::Translation::load(shared_object, s.text);
    s.translation.store(s.translation_owner.get(), std::memory_order_release);
}

void Program::profile(const RequestView& request) const {
    std::lock_guard lock(state_->translation_mu);  // one profiling run at a time
    Machine m;
    m.profile_into(state_->profile.data());
    Response out;
    m.handle(*this, request, out);
}

bool Program::translated() const { return state_->translation.load(std::memory_order_acquire) != nullptr; }

}  // namespace mtd::sandbox
