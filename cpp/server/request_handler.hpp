// The one H2O handler: routes every request by Host to a tenant and runs it
// in the worker's sandbox Machine. One RequestHandler per worker thread owns
// that thread's Machine, its cached routing table and all reusable buffers,
// so the request path takes no lock and does not allocate once warm.
//
// A request still running after its first time slice is parked: it goes,
// with the Machine it runs on, to this worker's LongRequestRunner (a
// background thread at the lowest CPU priority), and the worker takes a
// spare Machine. The runner hands it back finished, and the worker answers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/exchange.hpp"
#include "sandbox/machine.hpp"
#include "server/config.hpp"
#include "server/long_requests.hpp"
#include "stats/tenant_stats.hpp"
#include "tenants/registry.hpp"

struct st_h2o_req_t;
struct st_h2o_pathconf_t;
struct st_h2o_iovec_t;

namespace mtd::server {

class RequestHandler {
public:
    RequestHandler(const ServerConfig& config, tenants::Registry& registry, stats::TenantStats& unrouted,
                   size_t worker_index);
    ~RequestHandler();

    void handle(st_h2o_req_t* req);

    // Picks up a newer routing table if the registry moved on. Called per
    // request and from the worker loop, so an idle worker also lets go of
    // programs that were swapped out.
    void refresh() {
        if (registry_.generation() != generation_) reload();
    }

    // Starts the long-request runner; finished requests come back through
    // `ctx`'s queue, so on this thread, from its event loop.
    void start_long_requests(h2o_context_t* ctx);
    // The server is stopping: every parked request is answered 503. `poll`
    // turns the event loop, through which they come back.
    void stop_long_requests(const std::function<void()>& poll);

    // Registers the shared H2O handler on `pathconf`; it dispatches to the
    // RequestHandler the calling worker thread installed with set_current().
    static void install(st_h2o_pathconf_t* pathconf);
    static void set_current(RequestHandler* handler);

private:
    struct ParkedTicket;
    static void on_parked_req_dispose(void* ticket);
    static void on_long_requests_back(h2o_multithread_receiver_t* inbox, h2o_linklist_t* messages);
    void long_request_back(std::unique_ptr<LongRequest> request);

    void reload();
    // The tenant for a Host header as sent (default tenant if none matches),
    // or null; see route_host_.
    const tenants::Tenant* route(std::string_view raw_host);
    void answer_tenant(st_h2o_req_t* req, const tenants::Tenant& tenant);
    void answer_no_tenant(st_h2o_req_t* req, std::string_view host);
    // Parks the request machine_ has started; false if a cap says no.
    bool park(st_h2o_req_t* req, const tenants::Tenant& tenant, const sandbox::RequestView& view, uint64_t entry,
              uint64_t sandbox_ns);
    // Answers a finished guest run (or a failure) and records it.
    // `machine` ran it: its counters say what the request cost.
    void complete(st_h2o_req_t* req, const tenants::Tenant& tenant, const sandbox::RunResult& result,
                  const sandbox::Response& response, uint64_t entry, uint64_t sandbox_ns,
                  const sandbox::Machine& machine);
    // `entry` is when the request's latency started (ns, CLOCK_MONOTONIC).
    st_h2o_iovec_t prepare_error(st_h2o_req_t* req, int status, std::string_view name, const char* reason);
    void finish(st_h2o_req_t* req, stats::Slot& slot, int status, uint64_t entry, st_h2o_iovec_t body);

    const ServerConfig& config_;
    tenants::Registry& registry_;
    stats::TenantStats& unrouted_;
    const size_t worker_;
    // config_.slice, or the whole request when nothing may be parked.
    const sandbox::Slice slice_;

    std::shared_ptr<const tenants::RoutingTable> table_;
    uint64_t generation_ = ~uint64_t{0};

    std::unique_ptr<sandbox::Machine> machine_;
    std::vector<std::unique_ptr<sandbox::Machine>> spare_machines_;  // back from parked requests
    std::vector<LongRequest*> parked_;  // at the runner (owned there); for the caps
    h2o_multithread_receiver_t inbox_{};
    h2o_multithread_queue_t* inbox_queue_ = nullptr;  // null: runner not started
    std::unique_ptr<LongRequestRunner> runner_;
    sandbox::Response response_;
    std::string host_buf_;
    // The last routing decision: raw Host -> tenant under table_.
    std::string route_host_;
    const tenants::Tenant* route_tenant_ = nullptr;
    bool route_valid_ = false;
    std::string headers_buf_;  // LazyHeaders' buffer, reused
    std::string error_buf_;
};

}  // namespace mtd::server
