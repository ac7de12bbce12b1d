// Wraps a Pythran-generated tenant (compiled as "app.cpp", so its functors
// live in __pythran_app) into a guest program: run on_init, signal ready,
// then answer each request by calling on_client_request.
//
// Run as a plain process (qemu-riscv64, where the mtd ecalls fail with
// ENOSYS) it serves one GET / and prints the response instead: handy for
// debugging a tenant, and what the differential tests compare.
//
// The build pipeline defines, from the tenant's source:
//   MTD_HAS_ON_INIT      when app.py defines on_init()
//   MTD_HANDLER_ARGS     0 for on_client_request(), 4 for
//                        on_client_request(method, path, headers, body)
// First: it changes how Pythran's str shares its buffer (see there).
#include "pythran_literals.hpp"
#include "app.cpp"

#if MTD_HANDLER_ARGS == 4
#include <pythonic/include/types/dict.hpp>
#include <pythonic/types/dict.hpp>
#endif

#include <cstdint>
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <typeinfo>
#include <iostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "mtd_guest.h"

#include "pythran_literal_id.hpp"

namespace {

bool standalone = false;  // not under mtd: see above

std::string request_field(int field) {
    if (standalone) return field == MTD_FIELD_METHOD ? "GET" : field == MTD_FIELD_PATH ? "/" : "";
    std::string value(mtd_request_field(field, nullptr, 0), '\0');
    mtd_request_field(field, value.data(), value.size());
    return value;
}

#if MTD_HANDLER_ARGS == 4
pythonic::types::dict<pythonic::types::str, pythonic::types::str> request_headers() {
    // dict() would be a null reference in Pythran; empty_dict allocates.
    pythonic::types::dict<pythonic::types::str, pythonic::types::str> headers{
        pythonic::types::empty_dict()};
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

[[noreturn]] void respond(int status, std::string_view type, std::string_view body) {
    if (standalone) {
        std::printf("%d %.*s\n\n", status, static_cast<int>(type.size()), type.data());
        std::fwrite(body.data(), 1, body.size(), stdout);
        std::exit(0);
    }
    mtd_respond(status, type.data(), type.size(), body.data(), body.size());
}

// The bytes of a handler result field. A str is answered straight from its
// own buffer (no copy, no malloc); anything else is converted into `keep`.
template <class T>
std::string_view bytes_of(const T& value, std::string& keep) {
    if constexpr (std::is_same_v<T, pythonic::types::str>) {
        return value.chars();
    } else if constexpr (std::is_convertible_v<T, std::string>) {
        keep = std::string(value);
        return keep;
    } else {
        keep = pythonic::types::str(value).chars();
        return keep;
    }
}

// The handler's result: a (content_type, body) or (status, content_type,
// body) tuple, or (the seed's form) a callable returning one. `result` lives
// until respond(), which never returns, so the views stay valid.
template <class Result>
[[noreturn]] void respond_with(const Result& result) {
    if constexpr (std::is_invocable_v<const Result&>) {
        respond_with(result());
    } else {
        std::string keep_type, keep_body;
        if constexpr (std::tuple_size_v<Result> == 3) {
            respond(static_cast<int>(std::get<0>(result)), bytes_of(std::get<1>(result), keep_type),
                    bytes_of(std::get<2>(result), keep_body));
        } else {
            respond(200, bytes_of(std::get<0>(result), keep_type), bytes_of(std::get<1>(result), keep_body));
        }
    }
}

// Every request starts from the heap as it was at ready. Left alone, glibc's
// per-size caches (tcache) are empty then, and each of the request's first
// small mallocs takes the slow path (_int_malloc, ~100 guest instructions).
// Filling the caches once here, before ready, lets every fork take the fast
// path instead. Each page a request writes is copied (4 KiB) per request, so
// the chunks handed out first (tcache is LIFO: freed last) are taken from
// one page: the one holding chunks of the most sizes. Some of the chunks are
// recycled from init and lie elsewhere, so this is chosen by address.
void prime_malloc_caches() {
    constexpr size_t kLargest = 256;  // request bytes; tcache covers up to 1032
    constexpr int kPerSize = 4;       // of glibc's 7 per size
    constexpr size_t kSizes = (kLargest + 8 - 24) / 16 + 1;
    void* chunks[kSizes][kPerSize];
    for (size_t s = 0; s < kSizes; ++s)  // one per chunk size: 32, 48, ... bytes
        for (int i = 0; i < kPerSize; ++i) chunks[s][i] = std::malloc(24 + 16 * s);
    auto page = [](const void* p) { return reinterpret_cast<uintptr_t>(p) >> 12; };
    uintptr_t best = 0;
    size_t best_sizes = 0;
    for (const auto& row : chunks) {
        for (const void* candidate : row) {
            size_t n = 0;
            for (const auto& other : chunks)
                for (const void* c : other)
                    if (page(c) == page(candidate)) {
                        ++n;
                        break;
                    }
            if (n > best_sizes) best_sizes = n, best = page(candidate);
        }
    }
    for (auto& row : chunks) {
        for (void* c : row)
            if (page(c) != best) std::free(c);
        for (void* c : row)
            if (page(c) == best) std::free(c);
    }
}

// libgcc sorts the table of every function's unwind info on the first
// throw, ~1 M guest instructions, which would be redone in every request that
// raises (each starts from the state at ready) and blow its budget. One throw
// here leaves the table sorted in the master: a request's raise then costs
// ~20 k instructions.
void prime_unwinder() {
    try {
        throw std::runtime_error("prime");
    } catch (const std::exception&) {
    }
}

// An exception that escaped on_client_request: a 500 naming it, and the same
// line in the tenant's log (e.g. "KeyError: 'host'").
[[noreturn]] void respond_exception(const std::exception& error) {
    std::string name = typeid(error).name();
    if (char* demangled = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, nullptr)) {
        name = demangled;
        std::free(demangled);
    }
    name = name.substr(name.rfind("::") == std::string::npos ? 0 : name.rfind("::") + 2);
    std::ostringstream message;
    if (auto* python = dynamic_cast<const pythonic::types::BaseException*>(&error))
        message << *python;
    else
        message << error.what();
    std::string line = name + ": " + message.str();
    std::fprintf(stderr, "on_client_request raised %s\n", line.c_str());
    std::fflush(stderr);
    respond(500, "text/plain", "mtd: exception: " + line + "\n");
}

}  // namespace

int main() {
#ifdef MTD_HAS_ON_INIT
    __pythran_app::on_init()();
#endif
    std::cout.flush();
    std::fflush(stdout);
    prime_unwinder();
    prime_malloc_caches();
    // Only standalone runs write the flag: a store in every request would
    // copy its page (4 KiB) in every request.
    if (mtd_ready() != 0) standalone = true;
    try {
        respond_with(call_handler());
    } catch (const std::exception& error) {
        respond_exception(error);
    }
}
