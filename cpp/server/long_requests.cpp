#include "server/long_requests.hpp"

#include "common/monotonic_ns.hpp"
#include "server/low_priority.hpp"

#include <exception>
#include <string>

namespace mtd::server {

sandbox::RunResult contain_host_error(const tenants::Tenant& tenant, const std::exception& e) {
    if (tenant.program->log()) tenant.program->log()(std::string("mtd: sandbox host error: ") + e.what() + "\n");
    return {sandbox::Outcome::Fault, "internal error in the sandbox host", 0};
}

LongRequestRunner::LongRequestRunner(h2o_multithread_receiver_t* inbox)
    : inbox_(inbox), thread_([this] { run(); }) {}

LongRequestRunner::~LongRequestRunner() { stop(); }

void LongRequestRunner::submit(std::unique_ptr<LongRequest> request) {
    {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(request));
    }
    wake_.notify_one();
}

void LongRequestRunner::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void LongRequestRunner::hand_back(std::unique_ptr<LongRequest> request) {
    h2o_multithread_send_message(inbox_, &request.release()->message);  // the worker owns it again
}

// Round robin, one slice each, so that long requests share this thread
// fairly; finished (or abandoned) ones go back to the worker at once.
void LongRequestRunner::run() {
    lower_this_thread();
    for (;;) {
        std::unique_ptr<LongRequest> r;
        {
            std::unique_lock lock(mu_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) break;
            r = std::move(queue_.front());
            queue_.pop_front();
        }
        if (r->abandoned.load(std::memory_order_acquire)) {
            r->machine->recycle();
            hand_back(std::move(r));
            continue;
        }
        const uint64_t t0 = monotonic_ns();
        try {
            r->done = r->machine->resume(r->view, r->response, r->result);
        } catch (const std::exception& e) {
            r->result = contain_host_error(*r->tenant, e);
            r->done = true;
        }
        r->sandbox_ns += monotonic_ns() - t0;
        if (r->done) {
            r->machine->recycle();  // here, not on the worker at its next start()
            hand_back(std::move(r));
            continue;
        }
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(r));
    }
    std::lock_guard lock(mu_);
    while (!queue_.empty()) {
        hand_back(std::move(queue_.front()));
        queue_.pop_front();
    }
}

}  // namespace mtd::server
