// The A extension's read-modify-write operations, for the interpreter and
// translated code alike. kind: the AMO's position in the order below.
#pragma once
#include <cstdint>
#include <type_traits>

namespace mtd::sandbox::detail {

template <class T>
inline T amo_apply(int kind, T a, T b) {
    using S = std::make_signed_t<T>;
    switch (kind) {
        case 0: return b;                 // swap
        case 1: return a + b;             // add
        case 2: return a ^ b;             // xor
        case 3: return a & b;             // and
        case 4: return a | b;             // or
        case 5: return static_cast<S>(a) < static_cast<S>(b) ? a : b;  // min
        case 6: return static_cast<S>(a) > static_cast<S>(b) ? a : b;  // max
        case 7: return a < b ? a : b;     // minu
        default: return a > b ? a : b;    // maxu
    }
}

}  // namespace mtd::sandbox::detail
