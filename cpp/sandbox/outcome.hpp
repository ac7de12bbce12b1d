// How a guest run ended. Every way other than Responded/Ready/Exited is a
// contained failure: the request gets http_status(outcome) and the reason.
#pragma once
#include <cstdint>

namespace mtd::sandbox {

enum class Outcome : uint8_t {
    Responded,         // the guest answered through MTD_ECALL_RESPOND
    Ready,             // init finished (MTD_ECALL_READY)
    Exited,            // the guest called exit/exit_group
    BudgetExhausted,   // instruction limit reached
    MemoryExhausted,   // page copy / new mapping over the memory limit
    Fault,             // bad memory access, illegal instruction, bad jump
    ResponseTooLarge,  // respond() asked for more than response_bytes
    NoResponse,        // the guest exited during a request without answering
    BadResponse,       // refused by the server: the answer would break HTTP framing
    Overloaded,        // shed by the server: too many long requests in flight
};

struct RunResult {
    Outcome outcome = Outcome::Fault;
    const char* reason = "";  // static string, one line, never owned
    uint64_t instructions = 0;
};

constexpr int http_status(Outcome o) {
    switch (o) {
        case Outcome::Responded: return 200;  // the guest's own status wins
        case Outcome::BudgetExhausted: return 504;
        case Outcome::MemoryExhausted: return 507;
        case Outcome::ResponseTooLarge: return 502;
        case Outcome::NoResponse: return 502;
        case Outcome::BadResponse: return 502;
        case Outcome::Overloaded: return 503;
        default: return 500;
    }
}

constexpr const char* outcome_name(Outcome o) {
    switch (o) {
        case Outcome::Responded: return "responded";
        case Outcome::Ready: return "ready";
        case Outcome::Exited: return "exited";
        case Outcome::BudgetExhausted: return "budget";
        case Outcome::MemoryExhausted: return "memory";
        case Outcome::Fault: return "fault";
        case Outcome::ResponseTooLarge: return "response_too_large";
        case Outcome::NoResponse: return "no_response";
        case Outcome::BadResponse: return "bad_response";
        case Outcome::Overloaded: return "overloaded";
    }
    return "unknown";
}

}  // namespace mtd::sandbox
