// Background work (long requests, tenant start-up) runs at the lowest CPU
// priority, so that serving requests always wins a contended core.
#pragma once
#include <exception>
#include <thread>
#include <utility>

namespace mtd::server {

// SCHED_IDLE for the calling thread (nice 19 where that is refused).
// Lowering one's own priority needs no privilege; it cannot be undone.
void lower_this_thread();

// Runs fn() on a short-lived thread at the lowest priority and waits for it;
// returns its result or rethrows its exception.
template <class F>
auto run_at_low_priority(F&& fn) {
    std::exception_ptr error;
    decltype(fn()) result{};
    std::thread([&] {
        lower_this_thread();
        try {
            result = fn();
        } catch (...) {
            error = std::current_exception();
        }
    }).join();
    if (error) std::rethrow_exception(error);
    return result;
}

}  // namespace mtd::server
