#include "server/response_check.hpp"

#include "common/hot_path.hpp"

namespace mtd::server {

MTD_HOT_PATH
FieldValueProblem check_field_value(std::string_view value) {
    if (value.empty()) return FieldValueProblem::None;
    auto is_whitespace = [](char c) { return c == ' ' || c == '\t'; };
    const bool edge_whitespace = is_whitespace(value.front()) || is_whitespace(value.back());
    for (const char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (static_cast<unsigned char>(c - 0x21) <= 0x7e - 0x21) continue;  // visible ASCII: nearly every byte
        if (c == ' ' || c == '\t') continue;
        return c >= 0x80 ? FieldValueProblem::NonAscii : FieldValueProblem::ControlCharacter;
    }
    return edge_whitespace ? FieldValueProblem::EdgeWhitespace : FieldValueProblem::None;
}

namespace {

// RFC 9110 §5.6.2's tchar, upper case left out (see check_guest_header).
constexpr bool is_lower_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    for (const char t : std::string_view("!#$%&'*+-.^_`|~"))
        if (c == t) return true;
    return false;
}

constexpr std::string_view kServerOwnedHeaders[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
    "te",             "trailer",           "upgrade",    "date",       "server",
    "content-type",
};

}  // namespace

const char* check_guest_header(std::string_view name, std::string_view value) {
    if (name.empty()) return "guest header has an empty name";
    for (const char c : name)
        if (!is_lower_tchar(c)) return "guest header name is not a lower-case token";
    for (const std::string_view owned : kServerOwnedHeaders)
        if (name == owned) return "guest header is one the server sets";
    switch (check_field_value(value)) {
        case FieldValueProblem::None: return nullptr;
        case FieldValueProblem::ControlCharacter: return "guest header value has control characters";
        case FieldValueProblem::NonAscii: return "guest header value has non-ASCII bytes";
        case FieldValueProblem::EdgeWhitespace: return "guest header value starts or ends with whitespace";
    }
    return "guest header value is invalid";
}

MTD_HOT_PATH
const char* check_guest_response(int status, std::string_view content_type, size_t body_size, RequestKind kind) {
    if (status < 200 || status > 599) return "guest answered a status outside 200-599";
    if (body_size != 0) {
        switch (status) {
            case 204: return "guest answered 204 with a body (a client reads it as the next response)";
            case 205: return "guest answered 205 with a body (a 205 has none)";
            case 304: return "guest answered 304 with a body (a client reads it as the next response)";
        }
    }
    if (kind == RequestKind::Connect && status <= 299)
        return "guest answered 2xx to CONNECT (the client would take the connection for a tunnel)";
    switch (check_field_value(content_type)) {
        case FieldValueProblem::None: return nullptr;
        case FieldValueProblem::ControlCharacter: return "guest content type has control characters";
        case FieldValueProblem::NonAscii: return "guest content type has non-ASCII bytes";
        case FieldValueProblem::EdgeWhitespace: return "guest content type starts or ends with whitespace";
    }
    return "guest content type is invalid";
}

}  // namespace mtd::server
