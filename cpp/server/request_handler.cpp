#include "server/request_handler.hpp"

#include <h2o.h>

#include <cstring>
#include <exception>
#include <string>

#include "common/hot_path.hpp"
#include "common/monotonic_ns.hpp"
#include "server/response_check.hpp"

namespace mtd::server {
namespace {

thread_local RequestHandler* current_handler = nullptr;

const char* reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 507: return "Insufficient Storage";
    }
    return "";
}

std::string_view view(h2o_iovec_t v) { return {v.base ? v.base : "", v.len}; }

// The method as the client sent it: what the client frames the response by.
RequestKind kind_of(const h2o_req_t* req) { return request_kind(view(req->input.method)); }

// Prepares a complete response: everything but the final h2o_send, so the
// caller can stop its clock at the moment the response is handed to H2O.
// Status line, content type and body are copied into the request's pool
// because the buffers they come from are reused by the next request before
// H2O has necessarily written this one out. Framing is decided here, from
// the request and the status alone (response_check.hpp): H2O 2.2.5 writes
// Content-Length whenever res.content_length is set, whatever the status,
// and with it unset adds nothing for 1xx, 204, 304 and HEAD.
MTD_HOT_PATH
h2o_iovec_t prepare(h2o_req_t* req, int status, std::string_view content_type, std::string_view body) {
    static h2o_generator_t generator = {nullptr, nullptr};
    const RequestKind kind = kind_of(req);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    const size_t length = content_length_field(status, kind, body.size());
    req->res.content_length = length == kNoContentLength ? SIZE_MAX : length;
    if (!content_type.empty()) {
        char* ct = static_cast<char*>(h2o_mem_alloc_pool(&req->pool, content_type.size()));
        std::memcpy(ct, content_type.data(), content_type.size());
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr, ct, content_type.size());
    }
    h2o_start_response(req, &generator);
    h2o_iovec_t buf{nullptr, 0};
    if (body.empty() || !sends_content(status, kind)) return buf;
    buf.base = static_cast<char*>(h2o_mem_alloc_pool(&req->pool, body.size()));
    buf.len = body.size();
    std::memcpy(buf.base, body.data(), body.size());
    return buf;
}

MTD_HOT_PATH
void hand_over(h2o_req_t* req, h2o_iovec_t buf) {
    h2o_send(req, buf.len ? &buf : nullptr, buf.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

void send(h2o_req_t* req, int status, std::string_view content_type, std::string_view body) {
    hand_over(req, prepare(req, status, content_type, body));
}

// The Host header as sent, or empty. Without one H2O fills in the name of
// our wildcard hostconf ("default:65535"), which must not reach routing.
std::string_view sent_host(h2o_req_t* req) {
    if (req->input.authority.base == req->hostconf->authority.hostport.base) return {};
    return view(req->input.authority);
}

// The guest's header block: "name: value\n" per header, Host first, names
// lower-case (sandbox::RequestView::headers).
void serialize_headers(h2o_req_t* req, std::string_view host, std::string& out) {
    // One resize to the exact size, then plain copies: no per-append
    // capacity checks, and no allocation once the buffer has grown.
    constexpr std::string_view kHost = "host: ";
    size_t size = host.empty() ? 0 : kHost.size() + host.size() + 1;
    for (size_t i = 0; i < req->headers.size; ++i) {
        const h2o_header_t& h = req->headers.entries[i];
        size += h.name->len + 2 + h.value.len + 1;
    }
    out.resize(size);
    char* p = out.data();
    auto put = [&p](const char* s, size_t n) {
        if (n) std::memcpy(p, s, n);
        p += n;
    };
    // H2O keeps Host apart from the other headers (as the authority); a
    // handler reading headers expects to find it there.
    if (!host.empty()) {
        put(kHost.data(), kHost.size());
        put(host.data(), host.size());
        *p++ = '\n';
    }
    for (size_t i = 0; i < req->headers.size; ++i) {
        const h2o_header_t& h = req->headers.entries[i];
        // H2O lower-cases the names it knows (tokens) but not the others.
        for (size_t j = 0; j < h.name->len; ++j) {
            char c = h.name->base[j];
            *p++ = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        }
        put(": ", 2);
        put(h.value.base, h.value.len);
        *p++ = '\n';
    }
}

// The header block of the request being started, serialised into a reused
// buffer only if its guest asks for it: most handlers never do.
class LazyHeaders final : public sandbox::HeaderSource {
public:
    LazyHeaders(h2o_req_t* req, std::string_view host, std::string& buf) : req_(req), host_(host), buf_(buf) {}
    std::string_view headers() override {
        if (!ready_) {
            serialize_headers(req_, host_, buf_);
            ready_ = true;
        }
        return buf_;
    }

private:
    h2o_req_t* req_;
    std::string_view host_;
    std::string& buf_;
    bool ready_ = false;
};

MTD_HOT_PATH
int on_req(h2o_handler_t*, h2o_req_t* req) {
    current_handler->handle(req);
    return 0;
}

constexpr std::string_view kVanillaPath = "/_mtd/vanilla";
constexpr size_t kKeptResponseBytes = 1 << 20;
constexpr std::string_view kErrorType = "text/plain; charset=utf-8";

}  // namespace

// Lives in a parked request's memory pool: H2O disposes of it with the
// request (an HTTP/2 stream reset, a connection torn down), which tells the
// LongRequest that nobody is waiting for it any more.
struct RequestHandler::ParkedTicket {
    LongRequest* request;  // null once the request was answered
};

void RequestHandler::on_parked_req_dispose(void* ticket) {
    if (LongRequest* r = static_cast<ParkedTicket*>(ticket)->request) {
        r->req = nullptr;
        r->abandoned.store(true, std::memory_order_release);
    }
}

RequestHandler::RequestHandler(const ServerConfig& config, tenants::Registry& registry,
                               stats::TenantStats& unrouted, size_t worker_index)
    : config_(config),
      registry_(registry),
      unrouted_(unrouted),
      worker_(worker_index),
      slice_(config.max_parked ? config.slice : sandbox::Slice::whole()),
      machine_(std::make_unique<sandbox::Machine>()) {
    reload();
}

RequestHandler::~RequestHandler() = default;

void RequestHandler::install(h2o_pathconf_t* pathconf) {
    h2o_handler_t* h = h2o_create_handler(pathconf, sizeof(h2o_handler_t));
    h->on_req = on_req;
}

void RequestHandler::set_current(RequestHandler* handler) { current_handler = handler; }

void RequestHandler::reload() {
    // The table carries its own generation: if a publish lands right after
    // we read it, the next refresh() sees the registry moved and reloads.
    table_ = registry_.table();
    generation_ = table_->generation();
    route_valid_ = false;  // route_tenant_ points into the table let go of
}

MTD_HOT_PATH
void RequestHandler::handle(h2o_req_t* req) {
    refresh();
    std::string_view target = view(req->path);
    std::string_view path = req->query_at == SIZE_MAX ? target : target.substr(0, req->query_at);
    if (config_.vanilla && path == kVanillaPath) {
        send(req, 200, config_.vanilla_content_type, config_.vanilla_page);
        return;
    }
    const tenants::Tenant* tenant = route(sent_host(req));
    if (tenant)
        answer_tenant(req, *tenant);
    else
        answer_no_tenant(req, tenants::normalize_host(sent_host(req), host_buf_));
}

// A keep-alive connection sends the same Host on every request, so the last
// raw Host and where it went are remembered: the same bytes under the same
// table skip normalising and hashing. reload() forgets them.
MTD_HOT_PATH
const tenants::Tenant* RequestHandler::route(std::string_view raw_host) {
    if (route_valid_ && raw_host == std::string_view(route_host_)) return route_tenant_;
    const tenants::Tenant* tenant = table_->find(tenants::normalize_host(raw_host, host_buf_));
    if (!tenant) tenant = table_->default_tenant();
    route_host_.assign(raw_host);
    route_tenant_ = tenant;
    route_valid_ = true;
    return tenant;
}

MTD_HOT_PATH
void RequestHandler::answer_tenant(h2o_req_t* req, const tenants::Tenant& tenant) {
    stats::Slot& slot = tenant.stats->slot(worker_);
    slot.requests.add();
    slot.in_flight.add(1);
    slot.bytes_in.add(req->entity.len);

    std::string_view target = view(req->path);
    sandbox::RequestView rv;
    rv.method = view(req->method);
    if (req->query_at == SIZE_MAX) {
        rv.path = target;
    } else {
        rv.path = target.substr(0, req->query_at);
        rv.query = target.substr(req->query_at + 1);
    }
    rv.host = sent_host(req);
    LazyHeaders headers(req, rv.host, headers_buf_);
    rv.lazy_headers = &headers;
    rv.body = view(req->entity);

    // One reading starts both the sandbox's and the request's latency: the
    // routing before it is a few tens of ns, a clock call costs ~32.
    const uint64_t t0 = monotonic_ns();
    sandbox::RunResult result;
    bool done;
    try {
        done = machine_->start(*tenant.program, rv, response_, slice_, result);
    } catch (const std::exception& e) {
        result = contain_host_error(tenant, e);
        done = true;
    }
    const uint64_t sandbox_ns = monotonic_ns() - t0;
    if (!done) {
        if (park(req, tenant, rv, t0, sandbox_ns)) return;
        result = {sandbox::Outcome::Overloaded, "too many long-running requests on this worker; retry later", 0};
    }
    complete(req, tenant, result, response_, t0, sandbox_ns, *machine_);
    // H2O has its own copy now. The buffers are kept for the next request,
    // but not at the size of the largest answer any tenant ever gave.
    if (response_.body.capacity() > kKeptResponseBytes) std::string().swap(response_.body);
    if (response_.content_type.capacity() > kKeptResponseBytes) std::string().swap(response_.content_type);
}

MTD_HOT_PATH
void RequestHandler::complete(h2o_req_t* req, const tenants::Tenant& tenant, const sandbox::RunResult& result,
                              const sandbox::Response& response, uint64_t entry, uint64_t sandbox_ns,
                              const sandbox::Machine& machine) {
    stats::Slot& slot = tenant.stats->slot(worker_);
    slot.sandbox_latency.record(sandbox_ns);
    // What the request cost, read from the Machine that ran it: plain
    // getters and owner-only stores, nothing allocated or locked.
    slot.instructions.record(machine.request_instructions());
    slot.translated_instructions.add(machine.request_translated_instructions());
    slot.copied_bytes.add(machine.last_request_copied());
    slot.peak_memory.note(machine.last_request_memory());
    int status;
    h2o_iovec_t body;
    if (result.outcome != sandbox::Outcome::Responded) {
        slot.count_failure(result.outcome);
        if (result.outcome == sandbox::Outcome::Overloaded)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, H2O_STRLIT("1"));
        status = sandbox::http_status(result.outcome);
        body = prepare_error(req, status, sandbox::outcome_name(result.outcome), result.reason);
    } else if (const char* bad = check_guest_response(response.status, response.content_type, response.body.size(),
                                                        kind_of(req))) {
        slot.count_failure(sandbox::Outcome::BadResponse);
        status = sandbox::http_status(sandbox::Outcome::BadResponse);
        body = prepare_error(req, status, sandbox::outcome_name(sandbox::Outcome::BadResponse), bad);
    } else {
        status = response.status;
        body = prepare(req, status, response.content_type, response.body);
    }
    slot.bytes_out.add(body.len);
    finish(req, slot, status, entry, body);
}

// ---- long requests (long_requests.hpp)

void RequestHandler::start_long_requests(h2o_context_t* ctx) {
    if (config_.max_parked == 0) return;  // no time slicing: nothing is ever parked
    inbox_queue_ = ctx->queue;
    h2o_multithread_register_receiver(inbox_queue_, &inbox_, on_long_requests_back);
    runner_ = std::make_unique<LongRequestRunner>(&inbox_);
}

void RequestHandler::stop_long_requests(const std::function<void()>& poll) {
    if (!runner_) return;
    runner_->stop();  // hands every request back, finished or not
    while (!parked_.empty()) poll();
    runner_.reset();
    h2o_multithread_unregister_receiver(inbox_queue_, &inbox_);
    inbox_queue_ = nullptr;
}

bool RequestHandler::park(h2o_req_t* req, const tenants::Tenant& tenant, const sandbox::RequestView& view,
                          uint64_t entry, uint64_t sandbox_ns) {
    if (!runner_ || parked_.size() >= config_.max_parked) return false;
    size_t mine = 0;
    for (const LongRequest* p : parked_) mine += p->tenant->stats == tenant.stats;  // every version of it
    if (mine >= config_.max_parked_per_tenant) return false;

    auto r = std::make_unique<LongRequest>();
    r->req = req;
    r->table = table_;
    r->tenant = &tenant;
    r->machine = std::move(machine_);
    // Copies: H2O may free the request's memory while the runner needs them.
    r->method = view.method;
    r->path = view.path;
    r->query = view.query;
    r->host = view.host;
    r->headers = view.all_headers();  // the runner has no H2O request to serialise from
    r->body = view.body;
    r->view = {r->method, r->path, r->query, r->host, r->headers, r->body};
    r->entry = entry;
    r->sandbox_ns = sandbox_ns;
    auto* ticket = static_cast<ParkedTicket*>(h2o_mem_alloc_shared(&req->pool, sizeof(ParkedTicket), on_parked_req_dispose));
    ticket->request = r.get();
    r->ticket = ticket;
    parked_.push_back(r.get());
    tenant.stats->slot(worker_).parked.add();
    runner_->submit(std::move(r));

    if (spare_machines_.empty()) {
        machine_ = std::make_unique<sandbox::Machine>();
    } else {
        machine_ = std::move(spare_machines_.back());
        spare_machines_.pop_back();
    }
    return true;
}

void RequestHandler::on_long_requests_back(h2o_multithread_receiver_t*, h2o_linklist_t* messages) {
    while (!h2o_linklist_is_empty(messages)) {
        auto* message = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&message->link);
        current_handler->long_request_back(
            std::unique_ptr<LongRequest>(H2O_STRUCT_FROM_MEMBER(LongRequest, message, message)));
    }
}

void RequestHandler::long_request_back(std::unique_ptr<LongRequest> r) {
    std::erase(parked_, r.get());
    if (r->req) {
        static_cast<ParkedTicket*>(r->ticket)->request = nullptr;  // answering may dispose of req at once
        const sandbox::RunResult stopped{sandbox::Outcome::Overloaded, "the server is stopping", 0};
        complete(r->req, *r->tenant, r->done ? r->result : stopped, r->response, r->entry, r->sandbox_ns,
                 *r->machine);
    } else {
        r->tenant->stats->slot(worker_).in_flight.add(-1);  // the client went away: nobody to answer
    }
    // At most max_parked of them, so as many spare Machines.
    spare_machines_.push_back(std::move(r->machine));
}

// Counts the answer and hands it to H2O. Everything is recorded before
// h2o_send: for HTTP/1 it may write to the socket and even complete the
// request in place.
MTD_HOT_PATH
void RequestHandler::finish(h2o_req_t* req, stats::Slot& slot, int status, uint64_t entry, h2o_iovec_t body) {
    slot.count_status(status);
    slot.latency.record(monotonic_ns() - entry);
    slot.in_flight.add(-1);
    hand_over(req, body);
}

// An error's reason travels as content framed by Content-Length (and its
// one header is ours), so no reason can break framing as long as no error
// status is one that has no content.
static_assert([] {
    for (int o = 0; o <= static_cast<int>(sandbox::Outcome::Overloaded); ++o)
        if (status_has_no_content(sandbox::http_status(static_cast<sandbox::Outcome>(o)))) return false;
    return true;
}());

h2o_iovec_t RequestHandler::prepare_error(h2o_req_t* req, int status, std::string_view name, const char* reason) {
    error_buf_.assign("mtd: ");
    error_buf_.append(name);
    error_buf_.append(": ");
    error_buf_.append(reason ? reason : "");
    error_buf_.push_back('\n');
    return prepare(req, status, kErrorType, error_buf_);
}

void RequestHandler::answer_no_tenant(h2o_req_t* req, std::string_view host) {
    const uint64_t entry = monotonic_ns();
    stats::Slot& slot = unrouted_.slot(worker_);
    slot.requests.add();
    slot.in_flight.add(1);
    error_buf_.assign("no tenant for host '");
    error_buf_.append(host);
    error_buf_.append("' and no default tenant\n");
    finish(req, slot, 404, entry, prepare(req, 404, kErrorType, error_buf_));
}

}  // namespace mtd::server
