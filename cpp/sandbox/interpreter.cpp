// The interpreter: threaded dispatch over the shared decoder cache with
// GCC's computed goto. The current instruction is a pointer `d` into the
// cache; pc is derived from it only when needed (auipc, links, stops), so
// sequential flow is one add and one indirect jump.
//
// Safety rules enforced here:
//  - every data access goes through Memory's checked load/store;
//  - control transfers are range-checked against the decoded text, and
//    running off its end lands on a FETCH_FAULT sentinel;
//  - the instruction budget is checked at every jump, taken branch and ecall
//    (straight-line code between them is bounded by the text size).
#pragma GCC optimize("no-gcse")  // recommended for computed-goto dispatch
#include <cmath>
#include <cstring>

#include "fpu.hpp"
#include "hart.hpp"

namespace mtd::sandbox::detail {
namespace {

// Zicsr: floating-point CSRs and the user counters. Returns false for
// anything else (-> illegal instruction).
bool csr_access(Hart& h, uint32_t csr, uint64_t wval, int mode, bool do_write, uint64_t n,
                uint64_t& old) {
    // mode: 0 write, 1 set, 2 clear
    auto fold_flags = [&] {
        uint32_t m = _mm_getcsr();
        h.fflags |= mxcsr_to_fflags(m);
        _mm_setcsr(m & ~0x3fu);
    };
    auto apply = [&](uint64_t cur) -> uint64_t {
        return mode == 0 ? wval : mode == 1 ? (cur | wval) : (cur & ~wval);
    };
    switch (csr) {
        case 0x001: {  // fflags
            fold_flags();
            old = h.fflags;
            if (do_write) h.fflags = static_cast<uint32_t>(apply(old)) & 0x1f;
            return true;
        }
        case 0x002: {  // frm
            old = h.frm;
            if (do_write) {
                h.frm = static_cast<uint32_t>(apply(old)) & 7;
                _mm_setcsr((_mm_getcsr() & ~(3u << 13)) | mxcsr_rounding(h.frm));
            }
            return true;
        }
        case 0x003: {  // fcsr
            fold_flags();
            old = (h.frm << 5) | h.fflags;
            if (do_write) {
                uint64_t v = apply(old);
                h.fflags = v & 0x1f;
                h.frm = (v >> 5) & 7;
                _mm_setcsr((_mm_getcsr() & ~(3u << 13)) | mxcsr_rounding(h.frm));
            }
            return true;
        }
        case 0xC00: case 0xC01: case 0xC02:  // cycle, time, instret: all count instructions
            if (do_write) return false;
            old = n;
            return true;
    }
    return false;
}

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

// Keeps a value in an SSE register across a point the compiler must not
// move FP arithmetic over (a temporary MXCSR rounding-mode change).
#define FP_PIN(v) __asm__ volatile("" : "+x"(v))

}  // namespace

Stop interpret(Hart& h, Memory& m, const Text& t, uint64_t limit) {
    static void* const labels[] = {
#define MTD_OP_LABEL(name) &&op_##name,
        MTD_OPS(MTD_OP_LABEL)
#undef MTD_OP_LABEL
    };
    static_assert(sizeof(labels) / sizeof(labels[0]) == OP_COUNT);

    uint64_t* const x = h.x;
    uint64_t* const f = h.f;
    const Decoded* const dc = t.slots.data();
    const uint64_t base = t.base;
    const uint64_t nslots = t.nslots;
    const Decoded* const dc_end = dc + nslots;
    uint64_t n = h.instret;
    const Decoded* d;
    Stop result;

    const uint32_t host_mxcsr = _mm_getcsr();
    _mm_setcsr(guest_mxcsr(h.frm));

#define PC (base + (static_cast<uint64_t>(d - dc) << 1))
#define DISPATCH() goto* labels[d->op]
#define NEXT()             \
    do {                   \
        d = reinterpret_cast<const Decoded*>(reinterpret_cast<const char*>(d) + d->stride); \
        ++n;               \
        DISPATCH();        \
    } while (0)
    // Jump to an absolute guest address (already even).
#define JUMP_TO(target)                                           \
    do {                                                          \
        const uint64_t t_ = (target);                             \
        ++n;                                                      \
        if (__builtin_expect((t_ - base) >= nslots * 2, 0)) {     \
            h.pc = t_;                                            \
            h.fault = Fault::Fetch;                               \
            h.fault_addr = t_;                                    \
            result = Stop::Fault;                                 \
            goto out_pc_set;                                      \
        }                                                         \
        d = dc + ((t_ - base) >> 1);                              \
        if (__builtin_expect(n >= limit, 0)) goto stop_budget;    \
        DISPATCH();                                               \
    } while (0)
    // pc-relative jump: pointer arithmetic on the cache, no pc needed.
#define JUMP_REL(imm)                                                 \
    do {                                                              \
        const Decoded* nd_ = d + ((imm) >> 1);                        \
        ++n;                                                          \
        if (__builtin_expect(nd_ < dc || nd_ >= dc_end, 0)) {         \
            const uint64_t t_ = PC + static_cast<int64_t>(imm);       \
            h.pc = t_;                                                \
            h.fault = Fault::Fetch;                                   \
            h.fault_addr = t_;                                        \
            result = Stop::Fault;                                     \
            goto out_pc_set;                                          \
        }                                                             \
        d = nd_;                                                      \
        if (__builtin_expect(n >= limit, 0)) goto stop_budget;        \
        DISPATCH();                                                   \
    } while (0)
#define FAULT(kind, addr)          \
    do {                           \
        h.fault = (kind);          \
        h.fault_addr = (addr);     \
        goto stop_fault;           \
    } while (0)
#define STORE_FAULT(addr)                      \
    do {                                       \
        if (m.oom()) goto stop_memory;         \
        FAULT(Fault::Store, addr);             \
    } while (0)

    {
        const uint64_t off = h.pc - base;
        if (off >= nslots * 2 || (off & 1)) {
            h.fault = Fault::Fetch;
            h.fault_addr = h.pc;
            result = Stop::Fault;
            goto out_pc_set;
        }
        d = dc + (off >> 1);
        if (n >= limit) goto stop_budget;
        DISPATCH();
    }

op_ILLEGAL:
    FAULT(Fault::Illegal, PC);
op_FETCH_FAULT:
    FAULT(Fault::Fetch, PC);

op_LUI: x[d->rd] = static_cast<int64_t>(d->imm); NEXT();
op_AUIPC: x[d->rd] = PC + static_cast<int64_t>(d->imm); NEXT();
op_JAL:
    x[d->rd] = PC + d->len * 2;
    JUMP_REL(d->imm);
op_JALR: {
    const uint64_t target = (x[d->rs1] + static_cast<int64_t>(d->imm)) & ~1ull;
    x[d->rd] = PC + d->len * 2;
    JUMP_TO(target);
}
#define BRANCH(cond)                                        \
    if (cond) JUMP_REL(d->imm);                             \
    NEXT();
op_BEQ: BRANCH(x[d->rs1] == x[d->rs2]);
op_BNE: BRANCH(x[d->rs1] != x[d->rs2]);
op_BLT: BRANCH(static_cast<int64_t>(x[d->rs1]) < static_cast<int64_t>(x[d->rs2]));
op_BGE: BRANCH(static_cast<int64_t>(x[d->rs1]) >= static_cast<int64_t>(x[d->rs2]));
op_BLTU: BRANCH(x[d->rs1] < x[d->rs2]);
op_BGEU: BRANCH(x[d->rs1] >= x[d->rs2]);

#define LOAD(T, WIDEN)                                           \
    {                                                            \
        const uint64_t a = x[d->rs1] + static_cast<int64_t>(d->imm); \
        T v;                                                     \
        const uint8_t* p_ = m.read_ptr(a);                       \
        if (__builtin_expect(p_ != nullptr && (a & kPageMask) <= kPageSize - sizeof(T), 1)) { \
            std::memcpy(&v, p_, sizeof(T));                      \
        } else {                                                 \
            T tmp_;                                              \
            if (!m.read_bytes(a, &tmp_, sizeof(T))) FAULT(Fault::Load, a); \
            v = tmp_;                                            \
        }                                                        \
        x[d->rd] = static_cast<uint64_t>(static_cast<WIDEN>(v)); \
        NEXT();                                                  \
    }
op_LB: LOAD(int8_t, int64_t);
op_LH: LOAD(int16_t, int64_t);
op_LW: LOAD(int32_t, int64_t);
op_LD: LOAD(uint64_t, uint64_t);
op_LBU: LOAD(uint8_t, uint64_t);
op_LHU: LOAD(uint16_t, uint64_t);
op_LWU: LOAD(uint32_t, uint64_t);
#define STORE(T)                                                 \
    {                                                            \
        const uint64_t a = x[d->rs1] + static_cast<int64_t>(d->imm); \
        if (__builtin_expect(!m.store<T>(a, static_cast<T>(x[d->rs2])), 0)) STORE_FAULT(a); \
        NEXT();                                                  \
    }
op_SB: STORE(uint8_t);
op_SH: STORE(uint16_t);
op_SW: STORE(uint32_t);
op_SD: STORE(uint64_t);

op_ADDI: x[d->rd] = x[d->rs1] + static_cast<int64_t>(d->imm); NEXT();
op_SLTI: x[d->rd] = static_cast<int64_t>(x[d->rs1]) < static_cast<int64_t>(d->imm); NEXT();
op_SLTIU: x[d->rd] = x[d->rs1] < static_cast<uint64_t>(static_cast<int64_t>(d->imm)); NEXT();
op_XORI: x[d->rd] = x[d->rs1] ^ static_cast<int64_t>(d->imm); NEXT();
op_ORI: x[d->rd] = x[d->rs1] | static_cast<int64_t>(d->imm); NEXT();
op_ANDI: x[d->rd] = x[d->rs1] & static_cast<int64_t>(d->imm); NEXT();
op_SLLI: x[d->rd] = x[d->rs1] << d->imm; NEXT();
op_SRLI: x[d->rd] = x[d->rs1] >> d->imm; NEXT();
op_SRAI: x[d->rd] = static_cast<uint64_t>(static_cast<int64_t>(x[d->rs1]) >> d->imm); NEXT();
op_ADD: x[d->rd] = x[d->rs1] + x[d->rs2]; NEXT();
op_SUB: x[d->rd] = x[d->rs1] - x[d->rs2]; NEXT();
op_SLL: x[d->rd] = x[d->rs1] << (x[d->rs2] & 63); NEXT();
op_SLT: x[d->rd] = static_cast<int64_t>(x[d->rs1]) < static_cast<int64_t>(x[d->rs2]); NEXT();
op_SLTU: x[d->rd] = x[d->rs1] < x[d->rs2]; NEXT();
op_XOR: x[d->rd] = x[d->rs1] ^ x[d->rs2]; NEXT();
op_SRL: x[d->rd] = x[d->rs1] >> (x[d->rs2] & 63); NEXT();
op_SRA: x[d->rd] = static_cast<uint64_t>(static_cast<int64_t>(x[d->rs1]) >> (x[d->rs2] & 63)); NEXT();
op_OR: x[d->rd] = x[d->rs1] | x[d->rs2]; NEXT();
op_AND: x[d->rd] = x[d->rs1] & x[d->rs2]; NEXT();

#define SX32(v) static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)))
op_ADDIW: x[d->rd] = SX32(x[d->rs1] + static_cast<int64_t>(d->imm)); NEXT();
op_SLLIW: x[d->rd] = SX32(static_cast<uint32_t>(x[d->rs1]) << d->imm); NEXT();
op_SRLIW: x[d->rd] = SX32(static_cast<uint32_t>(x[d->rs1]) >> d->imm); NEXT();
op_SRAIW: x[d->rd] = SX32(static_cast<int32_t>(x[d->rs1]) >> d->imm); NEXT();
op_ADDW: x[d->rd] = SX32(x[d->rs1] + x[d->rs2]); NEXT();
op_SUBW: x[d->rd] = SX32(x[d->rs1] - x[d->rs2]); NEXT();
op_SLLW: x[d->rd] = SX32(static_cast<uint32_t>(x[d->rs1]) << (x[d->rs2] & 31)); NEXT();
op_SRLW: x[d->rd] = SX32(static_cast<uint32_t>(x[d->rs1]) >> (x[d->rs2] & 31)); NEXT();
op_SRAW: x[d->rd] = SX32(static_cast<int32_t>(x[d->rs1]) >> (x[d->rs2] & 31)); NEXT();

op_FENCE: NEXT();
op_ECALL:
    result = Stop::Ecall;
    goto out;
op_EBREAK:
    FAULT(Fault::Breakpoint, PC);

#define CSR(mode, src, writes)                                                        \
    {                                                                                 \
        uint64_t old;                                                                 \
        if (!csr_access(h, static_cast<uint32_t>(d->imm) & 0xfff, (src), (mode), (writes), n, old)) \
            FAULT(Fault::Illegal, PC);                                                \
        x[d->rd] = old;                                                               \
        NEXT();                                                                       \
    }
op_CSRRW: CSR(0, x[d->rs1], true);
op_CSRRS: CSR(1, x[d->rs1], d->rs1 != 0);
op_CSRRC: CSR(2, x[d->rs1], d->rs1 != 0);
op_CSRRWI: CSR(0, d->rs1, true);
op_CSRRSI: CSR(1, d->rs1, d->rs1 != 0);
op_CSRRCI: CSR(2, d->rs1, d->rs1 != 0);

op_MUL: x[d->rd] = x[d->rs1] * x[d->rs2]; NEXT();
op_MULH:
    x[d->rd] = static_cast<uint64_t>((static_cast<__int128>(static_cast<int64_t>(x[d->rs1])) *
                                      static_cast<__int128>(static_cast<int64_t>(x[d->rs2]))) >> 64);
    NEXT();
op_MULHSU:
    x[d->rd] = static_cast<uint64_t>((static_cast<__int128>(static_cast<int64_t>(x[d->rs1])) *
                                      static_cast<__int128>(x[d->rs2])) >> 64);
    NEXT();
op_MULHU:
    x[d->rd] = static_cast<uint64_t>((static_cast<unsigned __int128>(x[d->rs1]) *
                                      static_cast<unsigned __int128>(x[d->rs2])) >> 64);
    NEXT();
op_DIV: {
    const int64_t a = static_cast<int64_t>(x[d->rs1]), b = static_cast<int64_t>(x[d->rs2]);
    x[d->rd] = b == 0 ? ~0ull : (a == INT64_MIN && b == -1) ? static_cast<uint64_t>(a)
                                                            : static_cast<uint64_t>(a / b);
    NEXT();
}
op_DIVU: {
    const uint64_t a = x[d->rs1], b = x[d->rs2];
    x[d->rd] = b == 0 ? ~0ull : a / b;
    NEXT();
}
op_REM: {
    const int64_t a = static_cast<int64_t>(x[d->rs1]), b = static_cast<int64_t>(x[d->rs2]);
    x[d->rd] = b == 0 ? static_cast<uint64_t>(a) : (a == INT64_MIN && b == -1) ? 0
                                                                              : static_cast<uint64_t>(a % b);
    NEXT();
}
op_REMU: {
    const uint64_t a = x[d->rs1], b = x[d->rs2];
    x[d->rd] = b == 0 ? a : a % b;
    NEXT();
}
op_MULW: x[d->rd] = SX32(static_cast<uint32_t>(x[d->rs1]) * static_cast<uint32_t>(x[d->rs2])); NEXT();
op_DIVW: {
    const int32_t a = static_cast<int32_t>(x[d->rs1]), b = static_cast<int32_t>(x[d->rs2]);
    x[d->rd] = b == 0 ? ~0ull : (a == INT32_MIN && b == -1) ? SX32(a) : SX32(a / b);
    NEXT();
}
op_DIVUW: {
    const uint32_t a = static_cast<uint32_t>(x[d->rs1]), b = static_cast<uint32_t>(x[d->rs2]);
    x[d->rd] = b == 0 ? ~0ull : SX32(a / b);
    NEXT();
}
op_REMW: {
    const int32_t a = static_cast<int32_t>(x[d->rs1]), b = static_cast<int32_t>(x[d->rs2]);
    x[d->rd] = b == 0 ? SX32(a) : (a == INT32_MIN && b == -1) ? 0 : SX32(a % b);
    NEXT();
}
op_REMUW: {
    const uint32_t a = static_cast<uint32_t>(x[d->rs1]), b = static_cast<uint32_t>(x[d->rs2]);
    x[d->rd] = b == 0 ? SX32(a) : SX32(a % b);
    NEXT();
}

    // ---- A: one hart, so an AMO is a checked read-modify-write. Misaligned
    // AMOs fault like on Linux (no emulation of atomics across pages).
#define AMO_ADDR(T)                                                        \
    const uint64_t a = x[d->rs1];                                          \
    if (a & (sizeof(T) - 1)) FAULT(Fault::Misaligned, a);
op_LR_W: {
    AMO_ADDR(uint32_t);
    int32_t v;
    if (!m.load<int32_t>(a, v)) FAULT(Fault::Load, a);
    h.reservation = a;
    x[d->rd] = static_cast<uint64_t>(static_cast<int64_t>(v));
    NEXT();
}
op_LR_D: {
    AMO_ADDR(uint64_t);
    uint64_t v;
    if (!m.load<uint64_t>(a, v)) FAULT(Fault::Load, a);
    h.reservation = a;
    x[d->rd] = v;
    NEXT();
}
op_SC_W: {
    AMO_ADDR(uint32_t);
    if (h.reservation == a) {
        if (!m.store<uint32_t>(a, static_cast<uint32_t>(x[d->rs2]))) STORE_FAULT(a);
        x[d->rd] = 0;
    } else {
        x[d->rd] = 1;
    }
    h.reservation = ~0ull;
    NEXT();
}
op_SC_D: {
    AMO_ADDR(uint64_t);
    if (h.reservation == a) {
        if (!m.store<uint64_t>(a, x[d->rs2])) STORE_FAULT(a);
        x[d->rd] = 0;
    } else {
        x[d->rd] = 1;
    }
    h.reservation = ~0ull;
    NEXT();
}
#define AMO(T, kind)                                                        \
    {                                                                       \
        AMO_ADDR(T);                                                        \
        uint8_t* p = m.write_ptr(a);                                        \
        if (!p) STORE_FAULT(a);                                             \
        T old;                                                              \
        std::memcpy(&old, p, sizeof(T));                                    \
        const T nv = amo_apply<T>(kind, old, static_cast<T>(x[d->rs2]));    \
        std::memcpy(p, &nv, sizeof(T));                                     \
        x[d->rd] = static_cast<uint64_t>(static_cast<int64_t>(static_cast<std::make_signed_t<T>>(old))); \
        NEXT();                                                             \
    }
op_AMOSWAP_W: AMO(uint32_t, 0);
op_AMOADD_W: AMO(uint32_t, 1);
op_AMOXOR_W: AMO(uint32_t, 2);
op_AMOAND_W: AMO(uint32_t, 3);
op_AMOOR_W: AMO(uint32_t, 4);
op_AMOMIN_W: AMO(uint32_t, 5);
op_AMOMAX_W: AMO(uint32_t, 6);
op_AMOMINU_W: AMO(uint32_t, 7);
op_AMOMAXU_W: AMO(uint32_t, 8);
op_AMOSWAP_D: AMO(uint64_t, 0);
op_AMOADD_D: AMO(uint64_t, 1);
op_AMOXOR_D: AMO(uint64_t, 2);
op_AMOAND_D: AMO(uint64_t, 3);
op_AMOOR_D: AMO(uint64_t, 4);
op_AMOMIN_D: AMO(uint64_t, 5);
op_AMOMAX_D: AMO(uint64_t, 6);
op_AMOMINU_D: AMO(uint64_t, 7);
op_AMOMAXU_D: AMO(uint64_t, 8);

    // ---- F / D
op_FLW: {
    const uint64_t a = x[d->rs1] + static_cast<int64_t>(d->imm);
    uint32_t v;
    if (!m.load<uint32_t>(a, v)) FAULT(Fault::Load, a);
    f[d->rd] = box_bits(v);
    NEXT();
}
op_FLD: {
    const uint64_t a = x[d->rs1] + static_cast<int64_t>(d->imm);
    uint64_t v;
    if (!m.load<uint64_t>(a, v)) FAULT(Fault::Load, a);
    f[d->rd] = v;
    NEXT();
}
op_FSW: {
    const uint64_t a = x[d->rs1] + static_cast<int64_t>(d->imm);
    if (!m.store<uint32_t>(a, static_cast<uint32_t>(f[d->rs2]))) STORE_FAULT(a);
    NEXT();
}
op_FSD: {
    const uint64_t a = x[d->rs1] + static_cast<int64_t>(d->imm);
    if (!m.store<uint64_t>(a, f[d->rs2])) STORE_FAULT(a);
    NEXT();
}

    // Runs `stmt` under the instruction's rounding mode. Dynamic (and a static
    // mode equal to frm) is what the host already uses; otherwise switch the
    // MXCSR rounding bits around the operation, keeping the flags.
#define WITH_RM(pin_in, stmt, pin_out)                                        \
    if (__builtin_expect(d->rm == kDYN || d->rm == h.frm, 1)) {               \
        stmt;                                                                 \
    } else {                                                                  \
        const uint32_t saved_ = _mm_getcsr();                                 \
        _mm_setcsr((saved_ & ~(3u << 13)) | mxcsr_rounding(d->rm));           \
        pin_in;                                                               \
        stmt;                                                                 \
        pin_out;                                                              \
        _mm_setcsr((_mm_getcsr() & ~(3u << 13)) | (saved_ & (3u << 13)));     \
    }

#define FBIN_S(expr)                                                         \
    {                                                                        \
        float a = unbox(f[d->rs1]), b = unbox(f[d->rs2]), r;                 \
        WITH_RM({FP_PIN(a); FP_PIN(b);}, r = (expr), FP_PIN(r));              \
        f[d->rd] = canon_s(r);                                               \
        NEXT();                                                              \
    }
#define FBIN_D(expr)                                                         \
    {                                                                        \
        double a = f64_from(f[d->rs1]), b = f64_from(f[d->rs2]), r;          \
        WITH_RM({FP_PIN(a); FP_PIN(b);}, r = (expr), FP_PIN(r));              \
        f[d->rd] = canon_d(r);                                               \
        NEXT();                                                              \
    }
op_FADD_S: FBIN_S(a + b);
op_FSUB_S: FBIN_S(a - b);
op_FMUL_S: FBIN_S(a * b);
op_FDIV_S: FBIN_S(a / b);
op_FSQRT_S: FBIN_S(__builtin_sqrtf(a));
op_FADD_D: FBIN_D(a + b);
op_FSUB_D: FBIN_D(a - b);
op_FMUL_D: FBIN_D(a * b);
op_FDIV_D: FBIN_D(a / b);
op_FSQRT_D: FBIN_D(__builtin_sqrt(a));

#define FMA_S(sa, sc)                                                        \
    {                                                                        \
        float a = unbox(f[d->rs1]), b = unbox(f[d->rs2]), c = unbox(f[d->rs3]), r; \
        WITH_RM({FP_PIN(a); FP_PIN(b); FP_PIN(c);}, r = std::fma(sa a, b, sc c), FP_PIN(r)); \
        f[d->rd] = canon_s(r);                                               \
        NEXT();                                                              \
    }
#define FMA_D(sa, sc)                                                        \
    {                                                                        \
        double a = f64_from(f[d->rs1]), b = f64_from(f[d->rs2]), c = f64_from(f[d->rs3]), r; \
        WITH_RM({FP_PIN(a); FP_PIN(b); FP_PIN(c);}, r = std::fma(sa a, b, sc c), FP_PIN(r)); \
        f[d->rd] = canon_d(r);                                               \
        NEXT();                                                              \
    }
op_FMADD_S: FMA_S(+, +);
op_FMSUB_S: FMA_S(+, -);
op_FNMSUB_S: FMA_S(-, +);
op_FNMADD_S: FMA_S(-, -);
op_FMADD_D: FMA_D(+, +);
op_FMSUB_D: FMA_D(+, -);
op_FNMSUB_D: FMA_D(-, +);
op_FNMADD_D: FMA_D(-, -);

op_FSGNJ_S: {
    const uint32_t a = unbox_bits(f[d->rs1]), b = unbox_bits(f[d->rs2]);
    f[d->rd] = box_bits((a & 0x7fffffffu) | (b & 0x80000000u));
    NEXT();
}
op_FSGNJN_S: {
    const uint32_t a = unbox_bits(f[d->rs1]), b = unbox_bits(f[d->rs2]);
    f[d->rd] = box_bits((a & 0x7fffffffu) | (~b & 0x80000000u));
    NEXT();
}
op_FSGNJX_S: {
    const uint32_t a = unbox_bits(f[d->rs1]), b = unbox_bits(f[d->rs2]);
    f[d->rd] = box_bits(a ^ (b & 0x80000000u));
    NEXT();
}
op_FSGNJ_D: f[d->rd] = (f[d->rs1] & ~(1ull << 63)) | (f[d->rs2] & (1ull << 63)); NEXT();
op_FSGNJN_D: f[d->rd] = (f[d->rs1] & ~(1ull << 63)) | (~f[d->rs2] & (1ull << 63)); NEXT();
op_FSGNJX_D: f[d->rd] = f[d->rs1] ^ (f[d->rs2] & (1ull << 63)); NEXT();
op_FMIN_S: f[d->rd] = box_bits(fminmax_s<false>(unbox_bits(f[d->rs1]), unbox_bits(f[d->rs2]), h.fflags)); NEXT();
op_FMAX_S: f[d->rd] = box_bits(fminmax_s<true>(unbox_bits(f[d->rs1]), unbox_bits(f[d->rs2]), h.fflags)); NEXT();
op_FMIN_D: f[d->rd] = fminmax_d<false>(f[d->rs1], f[d->rs2], h.fflags); NEXT();
op_FMAX_D: f[d->rd] = fminmax_d<true>(f[d->rs1], f[d->rs2], h.fflags); NEXT();

#define RM_EFF (d->rm == kDYN ? h.frm : d->rm)
#define CVT_S(I)                                                                        \
    {                                                                                   \
        const uint32_t b = unbox_bits(f[d->rs1]);                                       \
        x[d->rd] = static_cast<uint64_t>(static_cast<int64_t>(                          \
            fcvt_to_int<I>(isnan_s(b) ? 0.0 : static_cast<double>(f32_from(b)), isnan_s(b), RM_EFF, h.fflags))); \
        NEXT();                                                                         \
    }
#define CVT_D(I)                                                                        \
    {                                                                                   \
        const uint64_t b = f[d->rs1];                                                   \
        x[d->rd] = static_cast<uint64_t>(static_cast<int64_t>(                          \
            fcvt_to_int<I>(isnan_d(b) ? 0.0 : f64_from(b), isnan_d(b), RM_EFF, h.fflags)));   \
        NEXT();                                                                         \
    }
    // 32-bit results are sign-extended whatever their signedness.
op_FCVT_W_S: CVT_S(int32_t);
op_FCVT_WU_S: {
    const uint32_t b = unbox_bits(f[d->rs1]);
    x[d->rd] = SX32(fcvt_to_int<uint32_t>(isnan_s(b) ? 0.0 : static_cast<double>(f32_from(b)), isnan_s(b), RM_EFF, h.fflags));
    NEXT();
}
op_FCVT_L_S: CVT_S(int64_t);
op_FCVT_LU_S: {
    const uint32_t b = unbox_bits(f[d->rs1]);
    x[d->rd] = fcvt_to_int<uint64_t>(isnan_s(b) ? 0.0 : static_cast<double>(f32_from(b)), isnan_s(b), RM_EFF, h.fflags);
    NEXT();
}
op_FCVT_W_D: CVT_D(int32_t);
op_FCVT_WU_D: {
    const uint64_t b = f[d->rs1];
    x[d->rd] = SX32(fcvt_to_int<uint32_t>(isnan_d(b) ? 0.0 : f64_from(b), isnan_d(b), RM_EFF, h.fflags));
    NEXT();
}
op_FCVT_L_D: CVT_D(int64_t);
op_FCVT_LU_D: {
    const uint64_t b = f[d->rs1];
    x[d->rd] = fcvt_to_int<uint64_t>(isnan_d(b) ? 0.0 : f64_from(b), isnan_d(b), RM_EFF, h.fflags);
    NEXT();
}

#define CVT_FROM_INT_S(expr)                                          \
    {                                                                 \
        const uint64_t v = x[d->rs1];                                 \
        float r;                                                      \
        WITH_RM((void)0, r = (expr), FP_PIN(r));                      \
        f[d->rd] = box_bits(f32_bits(r));                             \
        NEXT();                                                       \
    }
#define CVT_FROM_INT_D(expr)                                          \
    {                                                                 \
        const uint64_t v = x[d->rs1];                                 \
        double r;                                                     \
        WITH_RM((void)0, r = (expr), FP_PIN(r));                      \
        f[d->rd] = f64_bits(r);                                       \
        NEXT();                                                       \
    }
op_FCVT_S_W: CVT_FROM_INT_S(static_cast<float>(static_cast<int32_t>(v)));
op_FCVT_S_WU: CVT_FROM_INT_S(static_cast<float>(static_cast<uint32_t>(v)));
op_FCVT_S_L: CVT_FROM_INT_S(static_cast<float>(static_cast<int64_t>(v)));
op_FCVT_S_LU: CVT_FROM_INT_S(static_cast<float>(v));
op_FCVT_D_W: CVT_FROM_INT_D(static_cast<double>(static_cast<int32_t>(v)));
op_FCVT_D_WU: CVT_FROM_INT_D(static_cast<double>(static_cast<uint32_t>(v)));
op_FCVT_D_L: CVT_FROM_INT_D(static_cast<double>(static_cast<int64_t>(v)));
op_FCVT_D_LU: CVT_FROM_INT_D(static_cast<double>(v));
op_FCVT_S_D: {
    double a = f64_from(f[d->rs1]);
    float r;
    WITH_RM(FP_PIN(a), r = static_cast<float>(a), FP_PIN(r));
    f[d->rd] = canon_s(r);
    NEXT();
}
op_FCVT_D_S: {
    float a = unbox(f[d->rs1]);
    f[d->rd] = canon_d(static_cast<double>(a));
    NEXT();
}

op_FMV_X_W: x[d->rd] = SX32(static_cast<uint32_t>(f[d->rs1])); NEXT();
op_FMV_W_X: f[d->rd] = box_bits(static_cast<uint32_t>(x[d->rs1])); NEXT();
op_FMV_X_D: x[d->rd] = f[d->rs1]; NEXT();
op_FMV_D_X: f[d->rd] = x[d->rs1]; NEXT();
op_FCLASS_S: x[d->rd] = fclass_bits<uint32_t>(unbox_bits(f[d->rs1]), 23, 8); NEXT();
op_FCLASS_D: x[d->rd] = fclass_bits<uint64_t>(f[d->rs1], 52, 11); NEXT();

    // Comparisons: feq is quiet (NV only for signalling NaNs), flt/fle are
    // signalling (NV for any NaN). NaNs are handled before the host compares.
#define FCMP_S(quiet, op)                                                    \
    {                                                                        \
        const uint32_t a = unbox_bits(f[d->rs1]), b = unbox_bits(f[d->rs2]); \
        if (isnan_s(a) || isnan_s(b)) {                                      \
            if (!(quiet) || issnan_s(a) || issnan_s(b)) h.fflags |= kNV;           \
            x[d->rd] = 0;                                                    \
        } else {                                                             \
            x[d->rd] = f32_from(a) op f32_from(b);                           \
        }                                                                    \
        NEXT();                                                              \
    }
#define FCMP_D(quiet, op)                                                    \
    {                                                                        \
        const uint64_t a = f[d->rs1], b = f[d->rs2];                         \
        if (isnan_d(a) || isnan_d(b)) {                                      \
            if (!(quiet) || issnan_d(a) || issnan_d(b)) h.fflags |= kNV;           \
            x[d->rd] = 0;                                                    \
        } else {                                                             \
            x[d->rd] = f64_from(a) op f64_from(b);                           \
        }                                                                    \
        NEXT();                                                              \
    }
op_FEQ_S: FCMP_S(true, ==);
op_FLT_S: FCMP_S(false, <);
op_FLE_S: FCMP_S(false, <=);
op_FEQ_D: FCMP_D(true, ==);
op_FLT_D: FCMP_D(false, <);
op_FLE_D: FCMP_D(false, <=);

stop_budget:
    result = Stop::Budget;
    goto out;
stop_memory:
    result = Stop::MemoryLimit;
    goto out;
stop_fault:
    result = Stop::Fault;
out:
    h.pc = PC;
out_pc_set:
    h.instret = n;
    h.x[0] = 0;
    {
        const uint32_t guest = _mm_getcsr();
        h.fflags |= mxcsr_to_fflags(guest);
        _mm_setcsr(host_mxcsr);
    }
    return result;
}

}  // namespace mtd::sandbox::detail
