// Requests that outlast their first time slice (sandbox/slice.hpp) leave
// the worker's event loop: a background thread, at the lowest CPU priority
// (SCHED_IDLE), runs them slice by slice in turn and hands each back when
// it finishes. The worker's loop and every other thread of the server then
// win the CPU whenever they want it, so a long or hostile request costs its
// neighbours at most its first slice, even when the cores are busy.
//
// A LongRequest owns copies of everything its guest may read: the runner
// never touches H2O's memory, which the worker may free (client gone)
// while the guest runs. Only the worker thread answers, counts and frees.
#pragma once
#include <h2o.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sandbox/exchange.hpp"
#include "sandbox/machine.hpp"
#include "tenants/registry.hpp"

namespace mtd::server {

struct LongRequest {
    // ---- set by the worker when it parks the request
    h2o_req_t* req = nullptr;      // null once H2O disposed of it (worker thread only)
    void* ticket = nullptr;        // the worker's hook in req's pool
    std::shared_ptr<const tenants::RoutingTable> table;  // keeps `tenant` alive across reloads
    const tenants::Tenant* tenant = nullptr;
    std::unique_ptr<sandbox::Machine> machine;
    std::string method, path, query, host, headers, body;  // what `view` shows
    sandbox::RequestView view;
    uint64_t entry = 0;       // when its latency started (ns)
    uint64_t sandbox_ns = 0;  // time in its slices so far
    std::atomic<bool> abandoned{false};  // nobody to answer: stop at the next slice

    // ---- set by the runner when it hands the request back
    bool done = false;  // false: dropped (abandoned or the runner stopped)
    sandbox::RunResult result;
    sandbox::Response response;

    h2o_multithread_message_t message{};  // links it into the worker's inbox
};

// A C++ exception from the sandbox host, contained like a guest fault: it
// must not unwind through H2O's C frames. The tenant's log says why.
sandbox::RunResult contain_host_error(const tenants::Tenant& tenant, const std::exception& e);

class LongRequestRunner {
public:
    // Finished requests go back through `inbox` (a receiver registered on the
    // worker's H2O queue), whose callback runs on the worker's thread.
    explicit LongRequestRunner(h2o_multithread_receiver_t* inbox);
    ~LongRequestRunner();  // stop() if that was not done
    LongRequestRunner(const LongRequestRunner&) = delete;
    LongRequestRunner& operator=(const LongRequestRunner&) = delete;

    // Takes a request whose first slice Machine::start() already ran.
    void submit(std::unique_ptr<LongRequest> request);
    // Hands every request back unfinished (done = false) and ends the
    // thread; waits for the slice in progress (~100 µs).
    void stop();

private:
    void run();
    void hand_back(std::unique_ptr<LongRequest> request);

    h2o_multithread_receiver_t* inbox_;
    std::mutex mu_;
    std::condition_variable wake_;
    std::deque<std::unique_ptr<LongRequest>> queue_;  // guarded by mu_
    bool stopping_ = false;                           // guarded by mu_
    std::thread thread_;
};

}  // namespace mtd::server
