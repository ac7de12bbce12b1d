// What a guest may put in a response, and how the server frames it.
//
// The server owns HTTP framing. A client reads a response's end from the
// request it sent and the status it got (RFC 9112 §6.3): no content after
// a 1xx, 204 or 304, or after any answer to HEAD; a 2xx to CONNECT turns
// the connection into a tunnel; anything else is as long as Content-Length
// says. If a guest's bytes could land after where the client thinks the
// response ends, a client on a kept-alive or pooled connection (a proxy, a
// load balancer, a browser) would read them as the *next* response, which
// may be for another host: one tenant forging another's pages. So every
// guest answer passes check_guest_response() before anything is sent, and
// the server alone decides Content-Length (content_length_field()) and
// whether the body goes out (sends_content()). The status line's reason
// phrase is the server's too.
//
// Plain functions, no H2O: request_handler.cpp turns H2O's request into a
// RequestKind and applies the results. Every check is one switch on the
// status and one pass over a header value, on every request.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mtd::server {

// What the request's method means for the response's framing. Methods are
// case-sensitive (RFC 9110 §9.1): "head" is not HEAD to a client either.
enum class RequestKind : uint8_t {
    Plain,    // the response's content is framed by Content-Length
    Head,     // the response never has content, whatever its headers say
    Connect,  // a 2xx response makes the connection a tunnel
};

constexpr RequestKind request_kind(std::string_view method) {
    if (method == "HEAD") return RequestKind::Head;
    if (method == "CONNECT") return RequestKind::Connect;
    return RequestKind::Plain;
}

// Statuses a client never reads content after (RFC 9112 §6.3). 1xx never
// gets this far (check_guest_response refuses it) but is listed for a
// caller that might.
constexpr bool status_has_no_content(int status) {
    return (status >= 100 && status <= 199) || status == 204 || status == 304;
}

// Whether the body's bytes follow the header section.
constexpr bool sends_content(int status, RequestKind kind) {
    return kind != RequestKind::Head && !status_has_no_content(status);
}

inline constexpr size_t kNoContentLength = SIZE_MAX;

// The Content-Length field to send, or kNoContentLength for none:
// - 1xx, 204: never (RFC 9110 §8.6: a server MUST NOT send one); 304: it
//   would have to be the length of a 200 we do not have, so none.
// - HEAD: the length the guest's body would have had, which is what GET
//   would send if the guest answers both alike; none if the guest gave no
//   body, because it may have left it out for HEAD and a wrong length is
//   forbidden while none is allowed (§8.6).
// - otherwise: the body's length (205 included: its body is always empty,
//   and §15.3.6 asks for "Content-Length: 0").
constexpr size_t content_length_field(int status, RequestKind kind, size_t body_size) {
    if (status_has_no_content(status)) return kNoContentLength;
    if (kind == RequestKind::Head && body_size == 0) return kNoContentLength;
    return body_size;
}

// Why a header field value may not go out as is.
enum class FieldValueProblem : uint8_t {
    None,
    ControlCharacter,  // CR, LF, NUL, any other byte below 0x20 but HTAB, or DEL
    NonAscii,          // a byte 0x80-0xFF (RFC 9110's obs-text)
    EdgeWhitespace,    // SP or HTAB first or last
};

// A value goes out exactly as given, so it must be one that every parser
// reads the same, as the value and nothing else (RFC 9110 §5.5, strictly):
// visible ASCII, with SP and HTAB only between visible characters.
// - CR or LF would end the field, or the whole header section, early: the
//   rest would be read as headers or as content of the guest's making
//   (response splitting). NUL and the other controls are cut, refused or
//   passed on differently by different parsers; the same goes for
//   obs-text, which RFC 9110 keeps only for old messages.
// - A value's leading and trailing whitespace is not part of it (§5.5):
//   one hop strips it, another may not.
// The empty value passes (for content type it means "no header").
FieldValueProblem check_field_value(std::string_view value);

// For a header a guest names itself (no ABI does yet: today a guest sets
// only the content type). Null if it may be sent, else why not. The name
// must be a lower-case token (HTTP/2 refuses upper case) and not one of the
// headers the server owns because they frame the message or the connection
// (Content-Length, Transfer-Encoding, Connection, Keep-Alive,
// Proxy-Connection, TE, Trailer, Upgrade) or because H2O writes them
// itself (Date, Server); Content-Type has its own ABI field. The value must
// pass check_field_value().
const char* check_guest_header(std::string_view name, std::string_view value);

// A guest's complete answer, before anything is sent: null if it may go
// out as is, else why not (the request then gets 502 bad_response). Refused:
// - a status outside 200-599: 1xx are interim responses (101 would switch
//   protocols) and H2O's final response would follow; nothing else is
//   HTTP. Negative and huge values are refused too (the sandbox saturates
//   a 64-bit status to int).
// - any 2xx to CONNECT: a client would take the connection for a tunnel
//   to the host it asked for and the guest's bytes (and everything after)
//   for that host's (RFC 9112 §6.3).
// - a body with 204, 205 or 304, whatever the method: a client skips it
//   and reads it as the next response (204, 304), or it is forbidden
//   outright and some clients treat it like 204 (205, RFC 9110 §15.3.6).
//   A body with another status to HEAD is fine: only its length is sent.
// - a content type that check_field_value() refuses.
const char* check_guest_response(int status, std::string_view content_type, size_t body_size, RequestKind kind);

}  // namespace mtd::server
