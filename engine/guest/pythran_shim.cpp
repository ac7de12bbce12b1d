// Wraps a Pythran-generated tenant (compiled as "app.cpp", so its functors
// live in __pythran_app) into a guest program: run on_init, signal ready,
// then answer each request by calling on_client_request.
//
// The build pipeline defines, from the tenant's source:
//   MTD_HAS_ON_INIT      when app.py defines on_init()
//   MTD_HANDLER_ARGS     0 for on_client_request(), 4 for
//                        on_client_request(method, path, headers, body)
#include "app.cpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "mtd_guest.h"

namespace {

std::string request_field(int field) {
    std::string value(mtd_request_field(field, nullptr, 0), '\0');
    mtd_request_field(field, value.data(), value.size());
    return value;
}

#if MTD_HANDLER_ARGS == 4
pythonic::types::dict<pythonic::types::str, pythonic::types::str> request_headers() {
    pythonic::types::dict<pythonic::types::str, pythonic::types::str> headers;
    std::string raw = request_field(MTD_FIELD_HEADERS);
    size_t start = 0;
    while (start < raw.size()) {
        size_t end = raw.find('\n', start);
        if (end == std::string::npos) end = raw.size();
        size_t colon = raw.find(": ", start);
        if (colon != std::string::npos && colon < end)
            headers[pythonic::types::str(raw.substr(start, colon - start))] =
                pythonic::types::str(raw.substr(colon + 2, end - colon - 2));
        start = end + 1;
    }
    return headers;
}
#endif

auto call_handler() {
#if MTD_HANDLER_ARGS == 4
    return __pythran_app::on_client_request()(
        pythonic::types::str(request_field(MTD_FIELD_METHOD)),
        pythonic::types::str(request_field(MTD_FIELD_PATH)), request_headers(),
        pythonic::types::str(request_field(MTD_FIELD_BODY)));
#else
    return __pythran_app::on_client_request()();
#endif
}

template <class T>
std::string as_bytes(const T& value) {
    if constexpr (std::is_convertible_v<T, std::string>) {
        return std::string(value);
    } else {
        return std::string(pythonic::types::str(value).chars());
    }
}

// The handler's result: a (content_type, body) or (status, content_type,
// body) tuple, or (the seed's form) a callable returning one.
template <class Result>
[[noreturn]] void respond_with(const Result& result) {
    if constexpr (std::is_invocable_v<const Result&>) {
        respond_with(result());
    } else if constexpr (std::tuple_size_v<Result> == 3) {
        std::string type = as_bytes(std::get<1>(result)), body = as_bytes(std::get<2>(result));
        mtd_respond(static_cast<int>(std::get<0>(result)), type.data(), type.size(), body.data(),
                    body.size());
    } else {
        std::string type = as_bytes(std::get<0>(result)), body = as_bytes(std::get<1>(result));
        mtd_respond(200, type.data(), type.size(), body.data(), body.size());
    }
}

}  // namespace

int main() {
#ifdef MTD_HAS_ON_INIT
    __pythran_app::on_init()();
#endif
    std::cout.flush();
    std::fflush(stdout);
    mtd_ready();
    respond_with(call_handler());
}
