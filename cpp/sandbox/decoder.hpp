// Instruction decoding into the fixed-size record the interpreter dispatches
// on (handler index + operands). Compressed instructions decode to the same
// handlers as their 32-bit forms, differing only in `len`. The per-Program
// cache of these records is text.hpp.
#pragma once
#include <cstddef>
#include <cstdint>

#include "natives.hpp"

namespace mtd::sandbox::detail {

// clang-format off
// UNDECODED must stay first: a zero record (untouched cache memory) means
// "not decoded yet" (see text.hpp). The rest are ordered by how often
// compiled code runs them, most common first: a handler's index is its op's
// position (see Decoded::handler), so the handlers a typical request uses
// share a few cache lines of the dispatch table instead of a dozen. The F/D
// ops stay last, from FLW on: the interpreter sends every op from FLW up to
// the copy of a fork's f registers before its first FP instruction.
#define MTD_OPS(X) \
    X(UNDECODED) \
    X(SD) X(MV) X(ADDI) X(LD) X(LI) \
    X(JAL_IN) X(BEQ_IN) X(BNE_IN) X(BLT_IN) X(BGE_IN) X(BLTU_IN) X(BGEU_IN) \
    X(JALR) X(MV_PAIR) X(LD_SP_RUN) X(SD_SP_RUN) \
    X(ADD) X(SRLI) X(SLLI) X(SB) X(NATIVE) X(LUI) X(LBU) X(ECALL) \
    X(LW) X(SW) X(ANDI) X(OR) X(SUB) X(AND) X(ADDIW) X(ADDW) \
    X(SLLIW) X(SRAIW) X(SRLIW) X(SUBW) X(SLTU) X(SLTIU) X(XOR) X(ORI) \
    X(XORI) X(SRAI) X(LWU) X(LHU) X(LH) X(LB) X(SH) X(AUIPC) \
    X(ILLEGAL) X(FETCH_FAULT) X(SEGMENT) \
    X(JAL) X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU) \
    X(SLTI) X(SLL) X(SLT) X(SRL) X(SRA) \
    X(SLLW) X(SRLW) X(SRAW) \
    X(FENCE) X(EBREAK) \
    X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI) \
    X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) \
    X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW) \
    X(LR_W) X(SC_W) X(AMOSWAP_W) X(AMOADD_W) X(AMOXOR_W) X(AMOAND_W) X(AMOOR_W) \
    X(AMOMIN_W) X(AMOMAX_W) X(AMOMINU_W) X(AMOMAXU_W) \
    X(LR_D) X(SC_D) X(AMOSWAP_D) X(AMOADD_D) X(AMOXOR_D) X(AMOAND_D) X(AMOOR_D) \
    X(AMOMIN_D) X(AMOMAX_D) X(AMOMINU_D) X(AMOMAXU_D) \
    X(FLW) X(FLD) X(FSW) X(FSD) \
    X(FMADD_S) X(FMSUB_S) X(FNMSUB_S) X(FNMADD_S) X(FMADD_D) X(FMSUB_D) X(FNMSUB_D) X(FNMADD_D) \
    X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S) X(FSQRT_S) X(FSGNJ_S) X(FSGNJN_S) X(FSGNJX_S) \
    X(FMIN_S) X(FMAX_S) X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_L_S) X(FCVT_LU_S) X(FMV_X_W) \
    X(FEQ_S) X(FLT_S) X(FLE_S) X(FCLASS_S) X(FCVT_S_W) X(FCVT_S_WU) X(FCVT_S_L) X(FCVT_S_LU) X(FMV_W_X) \
    X(FADD_D) X(FSUB_D) X(FMUL_D) X(FDIV_D) X(FSQRT_D) X(FSGNJ_D) X(FSGNJN_D) X(FSGNJX_D) \
    X(FMIN_D) X(FMAX_D) X(FCVT_W_D) X(FCVT_WU_D) X(FCVT_L_D) X(FCVT_LU_D) X(FMV_X_D) \
    X(FEQ_D) X(FLT_D) X(FLE_D) X(FCLASS_D) X(FCVT_D_W) X(FCVT_D_WU) X(FCVT_D_L) X(FCVT_D_LU) X(FMV_D_X) \
    X(FCVT_S_D) X(FCVT_D_S)
// clang-format on

// Some are forms the decoder or Text picks for speed, never decoded as such:
//  - MV (x[rd] = x[rs1]) and LI (x[rd] = imm): addi/add with x0 or 0, which
//    is what mv, li, c.mv and c.li are;
//  - JAL_IN .. BGEU_IN are handlers only (op stays JAL .. BGEU): direct jumps
//    and branches whose target Text proved to be inside the text, which
//    skip the runtime target range check;
//  - SD_SP_RUN and LD_SP_RUN are handlers only (op stays SD or LD): the
//    head of a run of sp-relative sd (ld) instructions of one length, one
//    after the other in a basic block, done with one checked page access
//    when they all fall in one page (Text::fill, kMaxRun below);
//  - MV_PAIR is a handler only too (op stays MV): an mv followed by another
//    of the same length, both done with one dispatch.
//  - SEGMENT is a handler only (op stays whatever it is): the first record
//    of a later segment of a long straight-line block (kMaxSegment below).
enum Op : uint8_t {
#define MTD_OP_ENUM(name) OP_##name,
    MTD_OPS(MTD_OP_ENUM)
#undef MTD_OP_ENUM
        OP_COUNT
};

// A run head's extra fields. Its own operands stay as decoded, so the plain
// handler can still run it alone; the run uses fields its op leaves unused:
// rs3 = instructions in the run (2..kMaxRun), rm = the lowest imm / 8, and
// rd (sd) or rs2 (ld) = the highest imm / 8. Runs keep to imms in
// [0, 8 * 255], multiples of 8, as compilers save and restore registers.
inline constexpr unsigned kMaxRun = 32;

// The budget and the time slice are checked where a count is added: at
// every block entry, taken or not. Straight-line code longer than this is
// cut into segments of at most kMaxSegment instructions (Text::fill), each
// later segment starting at a SEGMENT record that checks and adds its own
// count, so no run of code, whatever its shape, goes more than
// kMaxSegment - 1 instructions past its budget.
inline constexpr unsigned kMaxSegment = 128;

// Integer destinations of 0 are redirected to this register index, so
// handlers write rd unconditionally and x0 can never change.
inline constexpr uint8_t kSinkReg = 32;

struct Decoded {
    // cnt and handler share the first 8 bytes (`head`): the lazy cache
    // publishes them with one atomic store and the interpreter reads them
    // with one load at every block entry, so no thread can see one without
    // the other (text.hpp). cnt comes first: taking the low half of the
    // word and its top 16 bits costs one instruction less than the reverse.
    //
    // Instructions from this slot to the end of its segment (the next jump,
    // branch, ecall or SEGMENT record along the sequential path), inclusive:
    // added to the instruction count once per block entry (Text fills it).
    // 0 for a SEGMENT record, which adds its segment's count itself.
    uint32_t cnt;
    uint8_t op;
    uint8_t rd;
    // The interpreter's dispatch index, handler_of(op, length): each handler
    // knows its length (its sequential step) at compile time, and the two
    // forms of an op sit side by side in the dispatch table. 0 (OP_UNDECODED,
    // 2-byte form) = not decoded yet.
    uint16_t handler;
    uint8_t rs1;
    uint8_t rs2;
    uint8_t rs3;
    uint8_t rm;     // rounding mode for FP ops (7 = dynamic)
    int32_t imm;    // immediate, CSR number for CSR ops

    // Instruction length in 2-byte units (1 or 2).
    unsigned len() const { return (handler & 1u) + 1; }
    void set_len(unsigned len);
};
static_assert(sizeof(Decoded) == 16);
static_assert(offsetof(Decoded, cnt) == 0 && offsetof(Decoded, handler) == 6,
              "head_handler/head_cnt below assume this layout (little-endian)");

// The first 8 bytes of a record as one word, and its two fields.
using DecodedHead = uint64_t __attribute__((may_alias));
inline unsigned head_handler(uint64_t head) { return static_cast<unsigned>(head >> 48); }
inline uint32_t head_cnt(uint64_t head) { return static_cast<uint32_t>(head); }

inline constexpr unsigned kHandlerCount = 2 * OP_COUNT;
// The handler of `op` (or of a handler-only form) for an instruction of
// `len` 2-byte units.
inline uint16_t handler_of(unsigned op, unsigned len) { return static_cast<uint16_t>(2 * op + len - 1); }
inline void Decoded::set_len(unsigned len) { handler = handler_of(op, len); }
inline bool is_segment_head(const Decoded& d) { return d.handler >> 1 == OP_SEGMENT; }
// The count entering at d adds: a SEGMENT record's is its whole segment,
// d and the rest of the block up to the next segment (`d + len`, always
// published before d, text.hpp).
inline uint32_t entry_count(const Decoded* d) { return is_segment_head(*d) ? 1 + d[d->len()].cnt : d->cnt; }

// Decodes one instruction (16 or 32 bits; `avail` bytes are readable).
Decoded decode(uint32_t bits, unsigned avail);
// The record of a slot that must not execute (not executable, or past the end).
Decoded fetch_fault();
// The record replacing the entry of a C library function run natively.
Decoded native_call(Native id);
// Whether the instruction ends a basic block (control transfer, ecall, or a
// stop): its cnt is 1 and it never falls through with NEXT().
bool ends_block(const Decoded& d);

}  // namespace mtd::sandbox::detail
