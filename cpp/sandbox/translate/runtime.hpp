// What translated code is written against (emitter.cpp emits calls to
// these): guest memory through the translation caches with the host's
// checked slow paths behind them, exactly as the interpreter's fast paths
// (memory.hpp: load_hit, store_hit), and the F/D semantics of fpu.hpp with
// the interpreter's rounding-mode handling (interpreter_fp_ops.inc).
// Included only by generated code.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../atomics.hpp"
#include "../fpu.hpp"
#include "abi.hpp"

// Internal linkage: one translation is one file, and its helpers must be
// inlined, not called through the shared object's PLT.
namespace mtd_t2 {
namespace {

using namespace mtd::sandbox::detail;
using namespace mtd::sandbox::translate;

// The symbols the host looks up (abi.hpp); everything else stays hidden
// (translations are compiled with -fvisibility=hidden).
#define T2_EXPORT extern "C" __attribute__((visibility("default")))

#define T2_LIKELY(c) __builtin_expect(!!(c), 1)
#define T2_UNLIKELY(c) __builtin_expect(!!(c), 0)
// Keeps a value in an SSE register across an MXCSR change.
#define T2_PIN(v) __asm__ volatile("" : "+x"(v))

inline ReadSlot& rslot(const Ctx* c, uint64_t a) { return c->rtlb[(a >> 12) & (kTlbSlots - 1)]; }
inline const WriteSlot& wslot(const Ctx* c, uint64_t a) { return c->wtlb[(a >> 12) & (kTlbSlots - 1)]; }

// Inlined at every access: the compiler's own heuristics gave up on the
// accessors in big regions and called them, for a third of a string-heavy run.
#define T2_INLINE inline __attribute__((always_inline))

// What Memory::write_ptr marks: every 64-byte line of [a, a + len), in
// one page, as written (the next fork copies them back).
T2_INLINE void mark_lines(const WriteSlot& t, uint64_t a, uint64_t len) {
    const uint64_t first = (a & 4095) >> 6, last = ((a & 4095) + len - 1) >> 6;
    *t.lines |= (~0ull >> (63 - (last - first))) << first;
}

// A region's table of its labels, for jumps through a register: an entry
// without a label is empty, whatever its pc (a guest can jump to any
// address, 0 included). The emitter lays the table out with the same hash
// (emitter.cpp).
struct DispatchEntry {
    uint64_t pc;
    void* label;
};
inline uint64_t dispatch_hash(uint64_t pc, unsigned bits) { return (pc * 0x9E3779B97F4A7C15ull) >> (64 - bits); }

inline void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint64_t get64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}


// False: the access faults (the host checked every byte).
// A miss: the page walk; across a page, the host's. Out of line: inlined at
// every access it was most of a region's code and of its compile time.
struct Loaded {
    uint64_t v;
    bool ok;
};
template <class T>
[[gnu::noinline]] Loaded load_miss(Ctx* c, uint64_t a) {
    T v{};
    const uint8_t* p = read_walk(c->top, rslot(c, a), a);
    bool ok;
    if (T2_LIKELY(p && (a & 4095) <= 4096 - sizeof(T))) {
        std::memcpy(&v, p, sizeof(T));
        ok = true;
    } else {
        ok = c->host->load(c->mem, a, &v, sizeof(T));
    }
    Loaded out{0, ok};
    std::memcpy(&out.v, &v, sizeof(T));
    return out;
}
template <class T>
T2_INLINE bool load(Ctx* c, uint64_t a, T& v) {
    const ReadSlot& t = rslot(c, a);
    if (T2_LIKELY((a >> 12) == t.vpn && (a & (sizeof(T) - 1)) == 0)) {
        std::memcpy(&v, reinterpret_cast<const void*>(a + t.off), sizeof(T));
        return true;
    }
    const Loaded l = load_miss<T>(c, a);
    std::memcpy(&v, &l.v, sizeof(T));
    return l.ok;
}

// slow: set when the host took the store (it may have charged a page,
// after which the slice's page quota must be looked at).
template <class T>
T2_INLINE bool store(Ctx* c, uint64_t a, T v, bool& slow) {
    const WriteSlot& t = wslot(c, a);
    if (T2_LIKELY((a >> 12) == t.vpn && t.gen == c->gen && (a & (sizeof(T) - 1)) == 0)) {
        *t.lines |= 1ull << ((a & 4095) >> 6);
        std::memcpy(reinterpret_cast<void*>(a + t.off), &v, sizeof(T));
        return true;
    }
    slow = true;
    return c->host->store(c->mem, a, &v, sizeof(T));
}

inline uint64_t sx32(uint64_t v) { return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v))); }

// ---- integer division (RISC-V: no traps)
inline uint64_t div(uint64_t x, uint64_t y) {
    const int64_t a = static_cast<int64_t>(x), b = static_cast<int64_t>(y);
    return b == 0 ? ~0ull : (a == INT64_MIN && b == -1) ? x : static_cast<uint64_t>(a / b);
}
inline uint64_t divu(uint64_t a, uint64_t b) { return b == 0 ? ~0ull : a / b; }
inline uint64_t rem(uint64_t x, uint64_t y) {
    const int64_t a = static_cast<int64_t>(x), b = static_cast<int64_t>(y);
    return b == 0 ? x : (a == INT64_MIN && b == -1) ? 0 : static_cast<uint64_t>(a % b);
}
inline uint64_t remu(uint64_t a, uint64_t b) { return b == 0 ? a : a % b; }
inline uint64_t divw(uint64_t x, uint64_t y) {
    const int32_t a = static_cast<int32_t>(x), b = static_cast<int32_t>(y);
    return b == 0 ? ~0ull : (a == INT32_MIN && b == -1) ? sx32(static_cast<uint32_t>(a)) : sx32(static_cast<uint32_t>(a / b));
}
inline uint64_t divuw(uint64_t x, uint64_t y) {
    const uint32_t a = static_cast<uint32_t>(x), b = static_cast<uint32_t>(y);
    return b == 0 ? ~0ull : sx32(a / b);
}
inline uint64_t remw(uint64_t x, uint64_t y) {
    const int32_t a = static_cast<int32_t>(x), b = static_cast<int32_t>(y);
    return b == 0 ? sx32(static_cast<uint32_t>(a)) : (a == INT32_MIN && b == -1) ? 0 : sx32(static_cast<uint32_t>(a % b));
}
inline uint64_t remuw(uint64_t x, uint64_t y) {
    const uint32_t a = static_cast<uint32_t>(x), b = static_cast<uint32_t>(y);
    return b == 0 ? sx32(a) : sx32(a % b);
}
inline uint64_t mulh(uint64_t a, uint64_t b) {
    return static_cast<uint64_t>((static_cast<__int128>(static_cast<int64_t>(a)) * static_cast<__int128>(static_cast<int64_t>(b))) >> 64);
}
inline uint64_t mulhsu(uint64_t a, uint64_t b) {
    return static_cast<uint64_t>((static_cast<__int128>(static_cast<int64_t>(a)) * static_cast<__int128>(b)) >> 64);
}
inline uint64_t mulhu(uint64_t a, uint64_t b) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * static_cast<unsigned __int128>(b)) >> 64);
}

// ---- F and D. The f registers are `double` locals holding the guest's
// bit patterns (a NaN-boxed single too: moves never change a double's
// bits on x86-64), so that D arithmetic stays in SSE registers; everything
// else works on the bits (dbl, bits). Results are canonicalised with a
// branch, not fpu.hpp's select, for the same reason.
inline double dbl(uint64_t b) { return f64_from(b); }
inline uint64_t bits(double v) { return f64_bits(v); }
inline double same(double v) { return v; }
// Out of line, so that the compiler cannot turn the branch into a select
// through integer registers (three instructions on every result's path).
[[gnu::noinline, gnu::cold]] float canonical_nan_s() { return f32_from(kCanonS); }
[[gnu::noinline, gnu::cold]] double canonical_nan_d() { return f64_from(kCanonD); }
inline uint64_t canon_s_br(float v) {
    if (T2_UNLIKELY(v != v)) v = canonical_nan_s();
    return box_bits(f32_bits(v));
}
inline double canon_dd(double v) {
    if (T2_UNLIKELY(v != v)) return canonical_nan_d();
    return v;
}
inline uint64_t canon_d_br(double v) { return f64_bits(canon_dd(v)); }

// A static rounding mode other than the dynamic one switches
// the MXCSR rounding bits around the operation, keeping the flags.
struct RoundingMode {
    uint32_t saved;
    explicit RoundingMode(uint32_t rm) : saved(_mm_getcsr()) {
        _mm_setcsr((saved & ~(3u << 13)) | mxcsr_rounding(rm));
    }
    ~RoundingMode() { _mm_setcsr((_mm_getcsr() & ~(3u << 13)) | (saved & (3u << 13))); }
};

// In: what the operands come as (bits, or a double's local); Out likewise.
#define T2_FP2(name, T, In, Out, from, to, expr)                                          \
    template <uint32_t Rm>                                                                \
    inline Out name(In x, In y, uint32_t frm) {                                           \
        T a = from(x), b = from(y), r;                                                    \
        if (Rm == kDYN || Rm == frm) {                                                    \
            r = (expr);                                                                   \
        } else {                                                                          \
            RoundingMode mode(Rm);                                                        \
            T2_PIN(a);                                                                    \
            T2_PIN(b);                                                                    \
            r = (expr);                                                                   \
            T2_PIN(r);                                                                    \
        }                                                                                 \
        return to(r);                                                                     \
    }
#define T2_FP3(name, T, In, Out, from, to, expr)                                          \
    template <uint32_t Rm>                                                                \
    inline Out name(In x, In y, In z, uint32_t frm) {                                     \
        T a = from(x), b = from(y), c = from(z), r;                                       \
        if (Rm == kDYN || Rm == frm) {                                                    \
            r = (expr);                                                                   \
        } else {                                                                          \
            RoundingMode mode(Rm);                                                        \
            T2_PIN(a);                                                                    \
            T2_PIN(b);                                                                    \
            T2_PIN(c);                                                                    \
            r = (expr);                                                                   \
            T2_PIN(r);                                                                    \
        }                                                                                 \
        return to(r);                                                                     \
    }
T2_FP2(fadd_s, float, uint64_t, uint64_t, unbox, canon_s_br, a + b)
T2_FP2(fsub_s, float, uint64_t, uint64_t, unbox, canon_s_br, a - b)
T2_FP2(fmul_s, float, uint64_t, uint64_t, unbox, canon_s_br, a * b)
T2_FP2(fdiv_s, float, uint64_t, uint64_t, unbox, canon_s_br, a / b)
T2_FP2(fsqrt_s, float, uint64_t, uint64_t, unbox, canon_s_br, __builtin_sqrtf(a))
T2_FP2(fadd_d, double, double, double, same, canon_dd, a + b)
T2_FP2(fsub_d, double, double, double, same, canon_dd, a - b)
T2_FP2(fmul_d, double, double, double, same, canon_dd, a * b)
T2_FP2(fdiv_d, double, double, double, same, canon_dd, a / b)
T2_FP2(fsqrt_d, double, double, double, same, canon_dd, __builtin_sqrt(a))
T2_FP3(fmadd_s, float, uint64_t, uint64_t, unbox, canon_s_br, std::fma(a, b, c))
T2_FP3(fmsub_s, float, uint64_t, uint64_t, unbox, canon_s_br, std::fma(a, b, -c))
T2_FP3(fnmsub_s, float, uint64_t, uint64_t, unbox, canon_s_br, std::fma(-a, b, c))
T2_FP3(fnmadd_s, float, uint64_t, uint64_t, unbox, canon_s_br, std::fma(-a, b, -c))
T2_FP3(fmadd_d, double, double, double, same, canon_dd, std::fma(a, b, c))
T2_FP3(fmsub_d, double, double, double, same, canon_dd, std::fma(a, b, -c))
T2_FP3(fnmsub_d, double, double, double, same, canon_dd, std::fma(-a, b, c))
T2_FP3(fnmadd_d, double, double, double, same, canon_dd, std::fma(-a, b, -c))
T2_FP2(fcvt_s_d, double, uint64_t, uint64_t, f64_from, canon_s_br, static_cast<float>(a))

inline uint64_t fcvt_d_s(uint64_t x) { return canon_d_br(static_cast<double>(unbox(x))); }

// Integer -> float: the result is rounded, never a NaN.
#define T2_FROM_INT(name, T, to, expr)                                                    \
    template <uint32_t Rm>                                                                \
    inline uint64_t name(uint64_t v, uint32_t frm) {                                      \
        T r;                                                                              \
        if (Rm == kDYN || Rm == frm) {                                                    \
            r = (expr);                                                                   \
        } else {                                                                          \
            RoundingMode mode(Rm);                                                        \
            r = (expr);                                                                   \
            T2_PIN(r);                                                                    \
        }                                                                                 \
        return to(r);                                                                     \
    }
inline uint64_t boxed(float r) { return box_bits(f32_bits(r)); }
T2_FROM_INT(fcvt_s_w, float, boxed, static_cast<float>(static_cast<int32_t>(v)))
T2_FROM_INT(fcvt_s_wu, float, boxed, static_cast<float>(static_cast<uint32_t>(v)))
T2_FROM_INT(fcvt_s_l, float, boxed, static_cast<float>(static_cast<int64_t>(v)))
T2_FROM_INT(fcvt_s_lu, float, boxed, static_cast<float>(v))
T2_FROM_INT(fcvt_d_w, double, f64_bits, static_cast<double>(static_cast<int32_t>(v)))
T2_FROM_INT(fcvt_d_wu, double, f64_bits, static_cast<double>(static_cast<uint32_t>(v)))
T2_FROM_INT(fcvt_d_l, double, f64_bits, static_cast<double>(static_cast<int64_t>(v)))
T2_FROM_INT(fcvt_d_lu, double, f64_bits, static_cast<double>(v))

// Float -> integer, in the effective rounding mode (static, or frm).
template <class I>
inline uint64_t cvt_s(uint64_t x, uint32_t rm, uint32_t* fl) {
    const uint32_t b = unbox_bits(x);
    return static_cast<uint64_t>(static_cast<int64_t>(
        fcvt_to_int<I>(isnan_s(b) ? 0.0 : static_cast<double>(f32_from(b)), isnan_s(b), rm, *fl)));
}
template <class I>
inline uint64_t cvt_d(uint64_t b, uint32_t rm, uint32_t* fl) {
    return static_cast<uint64_t>(static_cast<int64_t>(
        fcvt_to_int<I>(isnan_d(b) ? 0.0 : f64_from(b), isnan_d(b), rm, *fl)));
}
inline uint64_t cvt_wu_s(uint64_t x, uint32_t rm, uint32_t* fl) {
    const uint32_t b = unbox_bits(x);
    return sx32(fcvt_to_int<uint32_t>(isnan_s(b) ? 0.0 : static_cast<double>(f32_from(b)), isnan_s(b), rm, *fl));
}
inline uint64_t cvt_lu_s(uint64_t x, uint32_t rm, uint32_t* fl) {
    const uint32_t b = unbox_bits(x);
    return fcvt_to_int<uint64_t>(isnan_s(b) ? 0.0 : static_cast<double>(f32_from(b)), isnan_s(b), rm, *fl);
}
inline uint64_t cvt_wu_d(uint64_t b, uint32_t rm, uint32_t* fl) {
    return sx32(fcvt_to_int<uint32_t>(isnan_d(b) ? 0.0 : f64_from(b), isnan_d(b), rm, *fl));
}
inline uint64_t cvt_lu_d(uint64_t b, uint32_t rm, uint32_t* fl) {
    return fcvt_to_int<uint64_t>(isnan_d(b) ? 0.0 : f64_from(b), isnan_d(b), rm, *fl);
}

inline uint64_t fsgnj_s(uint64_t x, uint64_t y) {
    return box_bits((unbox_bits(x) & 0x7fffffffu) | (unbox_bits(y) & 0x80000000u));
}
inline uint64_t fsgnjn_s(uint64_t x, uint64_t y) {
    return box_bits((unbox_bits(x) & 0x7fffffffu) | (~unbox_bits(y) & 0x80000000u));
}
inline uint64_t fsgnjx_s(uint64_t x, uint64_t y) { return box_bits(unbox_bits(x) ^ (unbox_bits(y) & 0x80000000u)); }

// Comparisons: feq is quiet (NV only for signalling NaNs), flt/fle signal.
// NaN is tested by a quiet self-compare first (two host instructions):
// it raises the host's invalid flag only for a signalling NaN, which sets
// NV below anyway, so the guest's flags come out as the interpreter's.
template <bool Quiet, class Op>
inline uint64_t fcmp_s(uint64_t x, uint64_t y, uint32_t* fl, Op op) {
    const uint32_t a = unbox_bits(x), b = unbox_bits(y);
    const float fa = f32_from(a), fb = f32_from(b);
    if (T2_UNLIKELY(fa != fa || fb != fb)) {
        if (!Quiet || issnan_s(a) || issnan_s(b)) *fl |= kNV;
        return 0;
    }
    return op(fa, fb);
}
template <bool Quiet, class Op>
inline uint64_t fcmp_d(uint64_t a, uint64_t b, uint32_t* fl, Op op) {
    const double fa = f64_from(a), fb = f64_from(b);
    if (T2_UNLIKELY(fa != fa || fb != fb)) {
        if (!Quiet || issnan_d(a) || issnan_d(b)) *fl |= kNV;
        return 0;
    }
    return op(fa, fb);
}

}  // namespace
}  // namespace mtd_t2
