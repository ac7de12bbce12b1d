// F/D semantics that the host FPU does not give for free: NaN boxing,
// canonical NaNs, fmin/fmax and comparison NaN rules, fclass, saturating
// float->int conversions, and the mapping between the guest's fcsr and the
// host's MXCSR (rounding mode + accrued flags).
//
// While the interpreter runs, the host MXCSR holds the guest's dynamic
// rounding mode and accumulates its exception flags natively, so ordinary
// arithmetic costs one host instruction plus a NaN check.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#else
#error "mtd sandbox FPU glue is written for x86-64 hosts (MXCSR)"
#endif

namespace mtd::sandbox::detail {

inline constexpr uint32_t kNX = 1, kUF = 2, kOF = 4, kDZ = 8, kNV = 16;
inline constexpr uint32_t kRNE = 0, kRTZ = 1, kRDN = 2, kRUP = 3, kRMM = 4, kDYN = 7;

inline constexpr uint32_t kCanonS = 0x7fc00000u;
inline constexpr uint64_t kCanonD = 0x7ff8000000000000ull;
inline constexpr uint64_t kBoxHi = 0xffffffff00000000ull;

inline uint32_t mxcsr_rounding(uint32_t rm) {
    switch (rm) {
        case kRTZ: return 3u << 13;
        case kRDN: return 1u << 13;
        case kRUP: return 2u << 13;
        default: return 0;  // RNE; RMM has no host mode and rounds to nearest-even
    }
}
inline uint32_t mxcsr_to_fflags(uint32_t m) {
    return ((m & 0x01) ? kNV : 0) | ((m & 0x04) ? kDZ : 0) | ((m & 0x08) ? kOF : 0) |
           ((m & 0x10) ? kUF : 0) | ((m & 0x20) ? kNX : 0);
}
// All exceptions masked, no DAZ/FTZ, no flags, guest rounding.
inline uint32_t guest_mxcsr(uint32_t frm) { return 0x1f80u | mxcsr_rounding(frm); }

inline uint32_t f32_bits(float v) { uint32_t b; std::memcpy(&b, &v, 4); return b; }
inline float f32_from(uint32_t b) { float v; std::memcpy(&v, &b, 4); return v; }
inline uint64_t f64_bits(double v) { uint64_t b; std::memcpy(&b, &v, 8); return b; }
inline double f64_from(uint64_t b) { double v; std::memcpy(&v, &b, 8); return v; }

// A single in a 64-bit register must be NaN-boxed; otherwise it reads as the
// canonical NaN.
inline uint32_t unbox_bits(uint64_t r) { return (r >> 32) == 0xffffffffu ? static_cast<uint32_t>(r) : kCanonS; }
inline float unbox(uint64_t r) { return f32_from(unbox_bits(r)); }
inline uint64_t box_bits(uint32_t b) { return kBoxHi | b; }

inline bool isnan_s(uint32_t b) { return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu); }
inline bool isnan_d(uint64_t b) {
    return (b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (b & 0x000fffffffffffffull);
}
inline bool issnan_s(uint32_t b) { return isnan_s(b) && !(b & 0x00400000u); }
inline bool issnan_d(uint64_t b) { return isnan_d(b) && !(b & 0x0008000000000000ull); }

// For results of host arithmetic, which are never signalling NaNs: the
// quiet self-compare (ucomis*, no flag for a quiet NaN) is two instructions
// where testing the bits took six to nine.
inline uint64_t canon_s(float v) { return box_bits(__builtin_expect(v != v, 0) ? kCanonS : f32_bits(v)); }
inline uint64_t canon_d(double v) { return __builtin_expect(v != v, 0) ? kCanonD : f64_bits(v); }

template <class Bits>
inline uint64_t fclass_bits(Bits b, int mant_bits, int exp_bits) {
    const bool neg = b >> (mant_bits + exp_bits);
    const Bits exp = (b >> mant_bits) & ((Bits(1) << exp_bits) - 1);
    const Bits mant = b & ((Bits(1) << mant_bits) - 1);
    const Bits exp_max = (Bits(1) << exp_bits) - 1;
    if (exp == exp_max) {
        if (mant == 0) return neg ? 1u << 0 : 1u << 7;
        return (mant >> (mant_bits - 1)) ? 1u << 9 : 1u << 8;
    }
    if (exp == 0) {
        if (mant == 0) return neg ? 1u << 3 : 1u << 4;
        return neg ? 1u << 2 : 1u << 5;
    }
    return neg ? 1u << 1 : 1u << 6;
}

// fmin/fmax (2.2 semantics): a NaN operand is ignored, -0 < +0, both NaN ->
// canonical NaN, signalling NaN raises NV.
template <bool Max>
inline uint64_t fminmax_d(uint64_t a, uint64_t b, uint32_t& fl) {
    if (issnan_d(a) || issnan_d(b)) fl |= kNV;
    const bool na = isnan_d(a), nb = isnan_d(b);
    if (na && nb) return kCanonD;
    if (na) return b;
    if (nb) return a;
    const double x = f64_from(a), y = f64_from(b);
    if (x == y) {  // equal, possibly +-0: pick by sign
        const bool sa = a >> 63;
        return Max ? (sa ? b : a) : (sa ? a : b);
    }
    return Max ? (x > y ? a : b) : (x < y ? a : b);
}
template <bool Max>
inline uint32_t fminmax_s(uint32_t a, uint32_t b, uint32_t& fl) {
    if (issnan_s(a) || issnan_s(b)) fl |= kNV;
    const bool na = isnan_s(a), nb = isnan_s(b);
    if (na && nb) return kCanonS;
    if (na) return b;
    if (nb) return a;
    const float x = f32_from(a), y = f32_from(b);
    if (x == y) {
        const bool sa = a >> 31;
        return Max ? (sa ? b : a) : (sa ? a : b);
    }
    return Max ? (x > y ? a : b) : (x < y ? a : b);
}

// Rounds v to an integral value in mode rm without touching host flags
// (the caller restores MXCSR around it).
inline double round_rm(double v, uint32_t rm) {
    switch (rm) {
        case kRTZ: return std::trunc(v);
        case kRDN: return std::floor(v);
        case kRUP: return std::ceil(v);
        case kRMM: return std::round(v);
        default: {
            const double fl = std::floor(v);
            const double diff = v - fl;
            if (diff > 0.5) return fl + 1;
            if (diff < 0.5) return fl;
            return std::fmod(fl, 2.0) == 0 ? fl : fl + 1;
        }
    }
}

// Float -> integer with RISC-V saturation: NaN and +overflow give the
// maximum, -overflow the minimum, both raising NV; inexact raises NX.
template <class I>
inline I fcvt_to_int(double v, bool is_nan, uint32_t rm, uint32_t& fl) {
    using L = std::numeric_limits<I>;
    if (is_nan) {
        fl |= kNV;
        return L::max();
    }
    const uint32_t saved = _mm_getcsr();
    const double r = round_rm(v, rm);
    _mm_setcsr(saved);
    // 2^bits (unsigned) or 2^(bits-1) (signed): exactly representable.
    const double hi = std::ldexp(1.0, L::digits);
    const double lo = L::is_signed ? -hi : 0.0;
    if (r >= hi) {
        fl |= kNV;
        return L::max();
    }
    if (r < lo) {
        fl |= kNV;
        return L::min();
    }
    if (r != v) fl |= kNX;
    return static_cast<I>(r);
}

// Zicsr: the floating-point CSRs and the user counters, for the
// interpreter and translated code alike. n is the instructions retired
// before this one (cycle, time and instret all count instructions). mode:
// 0 write, 1 set, 2 clear. False for any other CSR (illegal instruction).
inline bool csr_access(uint32_t& fflags, uint32_t& frm, uint32_t csr, uint64_t wval, int mode, bool do_write,
                       uint64_t n, uint64_t& old) {
    auto fold_flags = [&] {
        uint32_t m = _mm_getcsr();
        fflags |= mxcsr_to_fflags(m);
        _mm_setcsr(m & ~0x3fu);
    };
    auto apply = [&](uint64_t cur) -> uint64_t {
        return mode == 0 ? wval : mode == 1 ? (cur | wval) : (cur & ~wval);
    };
    switch (csr) {
        case 0x001: {  // fflags
            fold_flags();
            old = fflags;
            if (do_write) fflags = static_cast<uint32_t>(apply(old)) & 0x1f;
            return true;
        }
        case 0x002: {  // frm
            old = frm;
            if (do_write) {
                frm = static_cast<uint32_t>(apply(old)) & 7;
                _mm_setcsr((_mm_getcsr() & ~(3u << 13)) | mxcsr_rounding(frm));
            }
            return true;
        }
        case 0x003: {  // fcsr
            fold_flags();
            old = (frm << 5) | fflags;
            if (do_write) {
                uint64_t v = apply(old);
                fflags = v & 0x1f;
                frm = (v >> 5) & 7;
                _mm_setcsr((_mm_getcsr() & ~(3u << 13)) | mxcsr_rounding(frm));
            }
            return true;
        }
        case 0xC00: case 0xC01: case 0xC02:
            if (do_write) return false;
            old = n;
            return true;
    }
    return false;
}

}  // namespace mtd::sandbox::detail
