// What crosses the sandbox boundary for one request: a read-only view of the
// HTTP request (the guest pulls fields through MTD_ECALL_REQUEST_FIELD) and
// the response the host copies out of guest memory.
#pragma once
#include <string>
#include <string_view>

namespace mtd::sandbox {

// Serialises the headers when the guest first asks for them: most
// handlers never do, and the server need not copy them for those.
class HeaderSource {
public:
    virtual std::string_view headers() = 0;

protected:
    ~HeaderSource() = default;
};

struct RequestView {
    std::string_view method;
    std::string_view path;     // without the query string
    std::string_view query;    // after '?', empty if none
    std::string_view host;     // Host header as sent
    std::string_view headers;  // "name: value\n" per header, names lower-case
    std::string_view body;
    HeaderSource* lazy_headers = nullptr;  // if set, the headers come from it instead

    std::string_view all_headers() const { return lazy_headers ? lazy_headers->headers() : headers; }
};

// Owned by the caller and reused across requests so that the request path
// does not allocate once the buffers have grown to their working size.
struct Response {
    int status = 0;
    std::string content_type;
    std::string body;
};

}  // namespace mtd::sandbox
