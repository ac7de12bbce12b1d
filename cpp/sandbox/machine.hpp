// A worker thread's machine. It is reused for every request the thread
// serves, whatever the tenant: handle() forks the program's master
// copy-on-write into it, resumes the guest right after MTD_ECALL_READY,
// runs it under the request limits and throws the fork away again.
// Nothing here allocates once the arena and response buffers are warm.
#pragma once
#include <memory>

#include "exchange.hpp"
#include "outcome.hpp"
#include "program.hpp"

namespace mtd::sandbox {

class Machine {
public:
    Machine();
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Runs one request. On Outcome::Responded, `out` holds the guest's
    // status, content type and body; otherwise `out` is unspecified and the
    // caller answers http_status(result.outcome) with result.reason.
    //
    // RunResult::reason is a string literal, except for faults, whose reason
    // names the faulting address and lives in a buffer of this Machine: it
    // stays valid until the next handle() call on the same Machine.
    RunResult handle(const Program& program, const RequestView& request, Response& out);

    // Bytes of guest memory the last request copied or newly touched
    // (what Limits::request_memory is compared against).
    uint64_t last_request_memory() const;
    // Bytes the last request physically copied (pages, plus leaves when the
    // previous request on this Machine ran another program).
    uint64_t last_request_copied() const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace mtd::sandbox
