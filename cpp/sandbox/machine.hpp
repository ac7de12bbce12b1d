// A worker thread's machine. It is reused for every request the thread
// serves, whatever the tenant: start() forks the program's master
// copy-on-write into it, resumes the guest right after MTD_ECALL_READY and
// runs it under the request limits; the next start() throws the fork away.
// A request longer than one time slice (slice.hpp) pauses and is continued
// by resume(), so the caller can serve other requests in between.
// Nothing here allocates once the arena and response buffers are warm.
#pragma once
#include <memory>

#include "exchange.hpp"
#include "outcome.hpp"
#include "program.hpp"
#include "slice.hpp"

namespace mtd::sandbox {

class Machine {
public:
    Machine();
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Starts one request and runs its first slice. Returns true when the
    // request is finished, with `result` set: on Outcome::Responded, `out`
    // holds the guest's status, content type and body; otherwise `out` is
    // unspecified and the caller answers http_status(result.outcome) with
    // result.reason. Returns false when the slice ran out first: call
    // resume() later. Until the request finishes, `program` must stay
    // valid; `request` and `out` are needed only during the call.
    //
    // RunResult::reason is a string literal, except for faults, whose reason
    // names the faulting address and lives in a buffer of this Machine: it
    // stays valid until the next start() on the same Machine.
    bool start(const Program& program, const RequestView& request, Response& out, const Slice& slice,
               RunResult& result);
    // Runs the next slice of the request start() left unfinished. `request`
    // must read the same as the one given to start(); `out` may be another
    // buffer.
    bool resume(const RequestView& request, Response& out, RunResult& result);
    // Throws the last request's fork away now rather than at the next
    // start(), and gives back every page this Machine kept (a spare waiting
    // for the next long request holds no guest memory): what a long request
    // changed (say 2.5 GiB of mappings) can take milliseconds to put back,
    // better spent off the event loop.
    void recycle();
    // start() without slicing: the whole request in one call.
    RunResult handle(const Program& program, const RequestView& request, Response& out);

    // Bytes of guest memory the last request copied or newly touched
    // (what Limits::request_memory is compared against).
    uint64_t last_request_memory() const;
    // Bytes the last request physically copied (pages, plus leaves when the
    // previous request on this Machine ran another program).
    uint64_t last_request_copied() const;
    // Guest instructions the request in progress (or the last one) retired.
    uint64_t request_instructions() const;
    // Of those, the ones that ran in translated code.
    uint64_t request_translated_instructions() const;
    // While set, every request counts the block entries it runs in
    // entries_run (interpret_profiled; Program::load's warm-up).
    void profile_into(uint8_t* entries_run);

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace mtd::sandbox
