// cpp/server/response_check.cpp on its own, built and run natively by
// tests/test_response_framing.py::test_response_check_unit. Prints
// "ok <checks>" and exits 0, or names each failed check and exits 1.
#include <cstdio>
#include <string>
#include <string_view>

#include "server/response_check.hpp"

using namespace mtd::server;

static int checks = 0, failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        ++checks;                                                          \
        if (!(cond)) {                                                     \
            ++failures;                                                    \
            std::printf("%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                  \
    } while (0)

static bool visible(unsigned char c) { return c >= 0x21 && c <= 0x7e; }

static FieldValueProblem expected(unsigned char c, bool at_edge) {
    if (visible(c)) return FieldValueProblem::None;
    if (c == ' ' || c == '\t') return at_edge ? FieldValueProblem::EdgeWhitespace : FieldValueProblem::None;
    return c >= 0x80 ? FieldValueProblem::NonAscii : FieldValueProblem::ControlCharacter;
}

int main() {
    // Every byte value first, inside and last.
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        CHECK(check_field_value(std::string(1, c) + "text/plain") == expected(b, true));
        CHECK(check_field_value("text/" + std::string(1, c) + "plain") == expected(b, false));
        CHECK(check_field_value("text/plain" + std::string(1, c)) == expected(b, true));
        CHECK(check_field_value(std::string(1, c)) == expected(b, true));
    }
    CHECK(check_field_value("") == FieldValueProblem::None);
    CHECK(check_field_value("text/html; charset=utf-8") == FieldValueProblem::None);
    CHECK(check_field_value("a \t b") == FieldValueProblem::None);
    CHECK(check_field_value(std::string_view("text/plain\0x", 12)) == FieldValueProblem::ControlCharacter);
    CHECK(check_field_value("text/plain\r\n evil") == FieldValueProblem::ControlCharacter);

    // A guest-named header: a lower-case token, not one the server owns.
    CHECK(check_guest_header("x-tenant", "yes") == nullptr);
    CHECK(check_guest_header("set-cookie", "a=b; Path=/") == nullptr);
    CHECK(check_guest_header("cache-control", "no-store") == nullptr);
    CHECK(check_guest_header("x!#$%&'*+-.^_`|~09az", "v") == nullptr);
    for (const char* owned : {"content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
                              "te", "trailer", "upgrade", "date", "server", "content-type"})
        CHECK(check_guest_header(owned, "x") != nullptr);
    for (const char* bad_name : {"", "Content-Length", "X-Tenant", "x tenant", "x:y", ":status", "x\r\ny"})
        CHECK(check_guest_header(bad_name, "x") != nullptr);
    CHECK(check_guest_header(std::string_view("x\0", 2), "x") != nullptr);
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        CHECK((check_guest_header("x", "a" + std::string(1, c) + "b") == nullptr) ==
              (expected(b, false) == FieldValueProblem::None));
    }
    CHECK(check_guest_header("x", " padded") != nullptr);

    // Whole answers: the status decides, then the method, then the content type.
    for (int status = -1000; status <= 1000; ++status) {
        const bool in_range = status >= 200 && status <= 599;
        CHECK((check_guest_response(status, "text/plain", 0, RequestKind::Plain) == nullptr) == in_range);
        const bool body_forbidden = status == 204 || status == 205 || status == 304;
        CHECK((check_guest_response(status, "text/plain", 1, RequestKind::Plain) == nullptr) ==
              (in_range && !body_forbidden));
        CHECK((check_guest_response(status, "text/plain", 1, RequestKind::Head) == nullptr) ==
              (in_range && !body_forbidden));
        CHECK((check_guest_response(status, "", 0, RequestKind::Connect) == nullptr) ==
              (in_range && status >= 300));
    }
    CHECK(check_guest_response(200, "text/plain\n", 0, RequestKind::Plain) != nullptr);
    CHECK(check_guest_response(200, "", 0, RequestKind::Plain) == nullptr);

    // Framing: the server's Content-Length and whether content follows.
    CHECK(content_length_field(200, RequestKind::Plain, 5) == 5);
    CHECK(content_length_field(200, RequestKind::Plain, 0) == 0);
    CHECK(content_length_field(205, RequestKind::Plain, 0) == 0);
    CHECK(content_length_field(204, RequestKind::Plain, 0) == kNoContentLength);
    CHECK(content_length_field(304, RequestKind::Plain, 0) == kNoContentLength);
    CHECK(content_length_field(304, RequestKind::Head, 7) == kNoContentLength);
    CHECK(content_length_field(200, RequestKind::Head, 7) == 7);
    CHECK(content_length_field(200, RequestKind::Head, 0) == kNoContentLength);
    CHECK(content_length_field(500, RequestKind::Connect, 3) == 3);
    for (int status = 100; status <= 199; ++status) CHECK(!sends_content(status, RequestKind::Plain));
    CHECK(!sends_content(204, RequestKind::Plain) && !sends_content(304, RequestKind::Plain));
    CHECK(!sends_content(200, RequestKind::Head) && sends_content(200, RequestKind::Plain));
    CHECK(request_kind("HEAD") == RequestKind::Head && request_kind("CONNECT") == RequestKind::Connect);
    CHECK(request_kind("head") == RequestKind::Plain && request_kind("GET") == RequestKind::Plain);

    if (failures) {
        std::printf("%d of %d checks failed\n", failures, checks);
        return 1;
    }
    std::printf("ok %d\n", checks);
    return 0;
}
