// RV64GC instruction decoding (RISC-V unprivileged spec, 2019-12 ratified
// base + M, A, F, D, C, Zicsr, Zifencei). Anything not recognised becomes
// OP_ILLEGAL so the interpreter faults instead of guessing.
#include "decoder.hpp"


namespace mtd::sandbox::detail {
namespace {

inline int32_t sext(uint32_t v, int bits) {
    return static_cast<int32_t>(v << (32 - bits)) >> (32 - bits);
}
inline uint32_t bit(uint32_t v, int b) { return (v >> b) & 1; }
inline uint32_t bits(uint32_t v, int hi, int lo) { return (v >> lo) & ((1u << (hi - lo + 1)) - 1); }
inline uint8_t xd(uint32_t r) { return r == 0 ? kSinkReg : static_cast<uint8_t>(r); }

Decoded make(Op op, uint8_t rd = 0, uint8_t rs1 = 0, uint8_t rs2 = 0, int32_t imm = 0) {
    Decoded d{};
    d.op = op;
    d.rd = rd;
    d.rs1 = rs1;
    d.rs2 = rs2;
    d.imm = imm;
    d.rm = 7;
    return d;
}
Decoded illegal(unsigned len) {
    Decoded d = make(OP_ILLEGAL);
    d.set_len(len);
    return d;
}

bool valid_rm(uint32_t rm) { return rm != 5 && rm != 6; }

Decoded decode32(uint32_t in) {
    const uint32_t opc = in & 0x7f, rd = bits(in, 11, 7), f3 = bits(in, 14, 12);
    const uint32_t rs1 = bits(in, 19, 15), rs2 = bits(in, 24, 20), f7 = in >> 25;
    const int32_t imm_i = static_cast<int32_t>(in) >> 20;
    const int32_t imm_s = (static_cast<int32_t>(in) >> 25 << 5) | static_cast<int32_t>(rd);
    const int32_t imm_b = sext((bit(in, 31) << 12) | (bit(in, 7) << 11) | (bits(in, 30, 25) << 5) |
                                   (bits(in, 11, 8) << 1),
                               13);
    const int32_t imm_u = static_cast<int32_t>(in & 0xfffff000u);
    const int32_t imm_j = sext((bit(in, 31) << 20) | (bits(in, 19, 12) << 12) | (bit(in, 20) << 11) |
                                   (bits(in, 30, 21) << 1),
                               21);
    const uint8_t r1 = static_cast<uint8_t>(rs1), r2 = static_cast<uint8_t>(rs2);
    const uint8_t rdf = static_cast<uint8_t>(rd);
    Decoded d = illegal(2);
    auto R = [&](Op op) { d = make(op, xd(rd), r1, r2); };
    auto I = [&](Op op) { d = make(op, xd(rd), r1, 0, imm_i); };

    switch (opc) {
        case 0x37: d = make(OP_LUI, xd(rd), 0, 0, imm_u); break;
        case 0x17: d = make(OP_AUIPC, xd(rd), 0, 0, imm_u); break;
        case 0x6f: d = make(OP_JAL, xd(rd), 0, 0, imm_j); break;
        case 0x67: if (f3 == 0) I(OP_JALR); break;
        case 0x63: {
            static const Op ops[8] = {OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL,
                                      OP_BLT, OP_BGE, OP_BLTU,    OP_BGEU};
            if (ops[f3] != OP_ILLEGAL) d = make(ops[f3], 0, r1, r2, imm_b);
            break;
        }
        case 0x03: {
            static const Op ops[8] = {OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL};
            if (ops[f3] != OP_ILLEGAL) I(ops[f3]);
            break;
        }
        case 0x23: {
            static const Op ops[8] = {OP_SB, OP_SH, OP_SW, OP_SD,
                                      OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL};
            if (ops[f3] != OP_ILLEGAL) d = make(ops[f3], 0, r1, r2, imm_s);
            break;
        }
        case 0x13: {
            const uint32_t f6 = in >> 26, sh = bits(in, 25, 20);
            switch (f3) {
                case 0: I(OP_ADDI); break;
                case 2: I(OP_SLTI); break;
                case 3: I(OP_SLTIU); break;
                case 4: I(OP_XORI); break;
                case 6: I(OP_ORI); break;
                case 7: I(OP_ANDI); break;
                case 1: if (f6 == 0) d = make(OP_SLLI, xd(rd), r1, 0, static_cast<int32_t>(sh)); break;
                case 5:
                    if (f6 == 0) d = make(OP_SRLI, xd(rd), r1, 0, static_cast<int32_t>(sh));
                    else if (f6 == 0x10) d = make(OP_SRAI, xd(rd), r1, 0, static_cast<int32_t>(sh));
                    break;
            }
            break;
        }
        case 0x1b: {
            const int32_t sh = static_cast<int32_t>(rs2);
            if (f3 == 0) I(OP_ADDIW);
            else if (f3 == 1 && f7 == 0) d = make(OP_SLLIW, xd(rd), r1, 0, sh);
            else if (f3 == 5 && f7 == 0) d = make(OP_SRLIW, xd(rd), r1, 0, sh);
            else if (f3 == 5 && f7 == 0x20) d = make(OP_SRAIW, xd(rd), r1, 0, sh);
            break;
        }
        case 0x33: {
            if (f7 == 0) {
                static const Op ops[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_OR, OP_AND};
                R(ops[f3]);
            } else if (f7 == 0x20) {
                if (f3 == 0) R(OP_SUB);
                else if (f3 == 5) R(OP_SRA);
            } else if (f7 == 1) {
                static const Op ops[8] = {OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU,
                                          OP_DIV, OP_DIVU, OP_REM,    OP_REMU};
                R(ops[f3]);
            }
            break;
        }
        case 0x3b: {
            if (f7 == 0) {
                if (f3 == 0) R(OP_ADDW);
                else if (f3 == 1) R(OP_SLLW);
                else if (f3 == 5) R(OP_SRLW);
            } else if (f7 == 0x20) {
                if (f3 == 0) R(OP_SUBW);
                else if (f3 == 5) R(OP_SRAW);
            } else if (f7 == 1) {
                static const Op ops[8] = {OP_MULW,    OP_ILLEGAL, OP_ILLEGAL, OP_ILLEGAL,
                                          OP_DIVW,    OP_DIVUW,   OP_REMW,    OP_REMUW};
                if (ops[f3] != OP_ILLEGAL) R(ops[f3]);
            }
            break;
        }
        case 0x0f:
            // FENCE / FENCE.I: one hart and immutable text, so both are no-ops.
            if (f3 == 0 || f3 == 1) d = make(OP_FENCE);
            break;
        case 0x73:
            if (in == 0x00000073) d = make(OP_ECALL);
            else if (in == 0x00100073) d = make(OP_EBREAK);
            else if (f3 != 0 && f3 != 4) {
                static const Op ops[8] = {OP_ILLEGAL, OP_CSRRW,  OP_CSRRS,  OP_CSRRC,
                                          OP_ILLEGAL, OP_CSRRWI, OP_CSRRSI, OP_CSRRCI};
                d = make(ops[f3], xd(rd), r1, 0, static_cast<int32_t>(in >> 20));
            }
            break;
        case 0x2f: {
            const uint32_t f5 = in >> 27;
            if (f3 != 2 && f3 != 3) break;
            const bool dw = f3 == 3;
            Op op = OP_ILLEGAL;
            switch (f5) {
                case 0x02: if (rs2 == 0) op = dw ? OP_LR_D : OP_LR_W; break;
                case 0x03: op = dw ? OP_SC_D : OP_SC_W; break;
                case 0x01: op = dw ? OP_AMOSWAP_D : OP_AMOSWAP_W; break;
                case 0x00: op = dw ? OP_AMOADD_D : OP_AMOADD_W; break;
                case 0x04: op = dw ? OP_AMOXOR_D : OP_AMOXOR_W; break;
                case 0x0c: op = dw ? OP_AMOAND_D : OP_AMOAND_W; break;
                case 0x08: op = dw ? OP_AMOOR_D : OP_AMOOR_W; break;
                case 0x10: op = dw ? OP_AMOMIN_D : OP_AMOMIN_W; break;
                case 0x14: op = dw ? OP_AMOMAX_D : OP_AMOMAX_W; break;
                case 0x18: op = dw ? OP_AMOMINU_D : OP_AMOMINU_W; break;
                case 0x1c: op = dw ? OP_AMOMAXU_D : OP_AMOMAXU_W; break;
            }
            if (op != OP_ILLEGAL) R(op);
            break;
        }
        case 0x07:
            if (f3 == 2) d = make(OP_FLW, rdf, r1, 0, imm_i);
            else if (f3 == 3) d = make(OP_FLD, rdf, r1, 0, imm_i);
            break;
        case 0x27:
            if (f3 == 2) d = make(OP_FSW, 0, r1, r2, imm_s);
            else if (f3 == 3) d = make(OP_FSD, 0, r1, r2, imm_s);
            break;
        case 0x43: case 0x47: case 0x4b: case 0x4f: {
            const uint32_t fmt = bits(in, 26, 25);
            if (fmt > 1 || !valid_rm(f3)) break;
            static const Op s[4] = {OP_FMADD_S, OP_FMSUB_S, OP_FNMSUB_S, OP_FNMADD_S};
            static const Op dd[4] = {OP_FMADD_D, OP_FMSUB_D, OP_FNMSUB_D, OP_FNMADD_D};
            const uint32_t k = (opc - 0x43) >> 2;
            d = make(fmt ? dd[k] : s[k], rdf, r1, r2);
            d.rs3 = static_cast<uint8_t>(in >> 27);
            d.rm = static_cast<uint8_t>(f3);
            break;
        }
        case 0x53: {
            const bool dbl = f7 & 1;
            auto F = [&](Op op, bool int_rd = false, bool uses_rm = true) {
                if (uses_rm && !valid_rm(f3)) return;
                d = make(op, int_rd ? xd(rd) : rdf, r1, r2);
                if (uses_rm) d.rm = static_cast<uint8_t>(f3);
            };
            switch (f7) {
                case 0x00: case 0x01: F(dbl ? OP_FADD_D : OP_FADD_S); break;
                case 0x04: case 0x05: F(dbl ? OP_FSUB_D : OP_FSUB_S); break;
                case 0x08: case 0x09: F(dbl ? OP_FMUL_D : OP_FMUL_S); break;
                case 0x0c: case 0x0d: F(dbl ? OP_FDIV_D : OP_FDIV_S); break;
                case 0x2c: case 0x2d: if (rs2 == 0) F(dbl ? OP_FSQRT_D : OP_FSQRT_S); break;
                case 0x10: case 0x11:
                    if (f3 == 0) F(dbl ? OP_FSGNJ_D : OP_FSGNJ_S, false, false);
                    else if (f3 == 1) F(dbl ? OP_FSGNJN_D : OP_FSGNJN_S, false, false);
                    else if (f3 == 2) F(dbl ? OP_FSGNJX_D : OP_FSGNJX_S, false, false);
                    break;
                case 0x14: case 0x15:
                    if (f3 == 0) F(dbl ? OP_FMIN_D : OP_FMIN_S, false, false);
                    else if (f3 == 1) F(dbl ? OP_FMAX_D : OP_FMAX_S, false, false);
                    break;
                case 0x20: if (rs2 == 1) F(OP_FCVT_S_D); break;
                case 0x21: if (rs2 == 0) F(OP_FCVT_D_S); break;
                case 0x50: case 0x51:
                    if (f3 == 2) F(dbl ? OP_FEQ_D : OP_FEQ_S, true, false);
                    else if (f3 == 1) F(dbl ? OP_FLT_D : OP_FLT_S, true, false);
                    else if (f3 == 0) F(dbl ? OP_FLE_D : OP_FLE_S, true, false);
                    break;
                case 0x60: case 0x61: {
                    static const Op s[4] = {OP_FCVT_W_S, OP_FCVT_WU_S, OP_FCVT_L_S, OP_FCVT_LU_S};
                    static const Op dd[4] = {OP_FCVT_W_D, OP_FCVT_WU_D, OP_FCVT_L_D, OP_FCVT_LU_D};
                    if (rs2 < 4) F(dbl ? dd[rs2] : s[rs2], true);
                    break;
                }
                case 0x68: case 0x69: {
                    static const Op s[4] = {OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_S_L, OP_FCVT_S_LU};
                    static const Op dd[4] = {OP_FCVT_D_W, OP_FCVT_D_WU, OP_FCVT_D_L, OP_FCVT_D_LU};
                    if (rs2 < 4) F(dbl ? dd[rs2] : s[rs2]);
                    break;
                }
                case 0x70: case 0x71:
                    if (rs2 == 0 && f3 == 0) F(dbl ? OP_FMV_X_D : OP_FMV_X_W, true, false);
                    else if (rs2 == 0 && f3 == 1) F(dbl ? OP_FCLASS_D : OP_FCLASS_S, true, false);
                    break;
                case 0x78: case 0x79:
                    if (rs2 == 0 && f3 == 0) F(dbl ? OP_FMV_D_X : OP_FMV_W_X, false, false);
                    break;
            }
            break;
        }
    }
    d.set_len(2);
    return d;
}

Decoded decode16(uint32_t in) {
    const uint32_t q = in & 3, f3 = bits(in, 15, 13);
    const uint8_t rp_hi = static_cast<uint8_t>(8 + bits(in, 9, 7));   // rs1'/rd'
    const uint8_t rp_lo = static_cast<uint8_t>(8 + bits(in, 4, 2));   // rs2'/rd'
    const uint32_t rd = bits(in, 11, 7), rs2 = bits(in, 6, 2);
    const uint8_t r = static_cast<uint8_t>(rd), r2 = static_cast<uint8_t>(rs2);
    const int32_t imm6 = sext((bit(in, 12) << 5) | bits(in, 6, 2), 6);
    Decoded d = illegal(1);
    if (q == 0) {
        switch (f3) {
            case 0: {
                const uint32_t nz = (bits(in, 12, 11) << 4) | (bits(in, 10, 7) << 6) |
                                    (bit(in, 6) << 2) | (bit(in, 5) << 3);
                if (nz) d = make(OP_ADDI, rp_lo, 2, 0, static_cast<int32_t>(nz));
                break;
            }
            case 1: d = make(OP_FLD, rp_lo, rp_hi, 0, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bits(in, 6, 5) << 6))); break;
            case 2: d = make(OP_LW, rp_lo, rp_hi, 0, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bit(in, 6) << 2) | (bit(in, 5) << 6))); break;
            case 3: d = make(OP_LD, rp_lo, rp_hi, 0, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bits(in, 6, 5) << 6))); break;
            case 5: d = make(OP_FSD, 0, rp_hi, rp_lo, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bits(in, 6, 5) << 6))); break;
            case 6: d = make(OP_SW, 0, rp_hi, rp_lo, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bit(in, 6) << 2) | (bit(in, 5) << 6))); break;
            case 7: d = make(OP_SD, 0, rp_hi, rp_lo, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bits(in, 6, 5) << 6))); break;
        }
    } else if (q == 1) {
        switch (f3) {
            case 0: d = make(OP_ADDI, xd(rd), r, 0, imm6); break;  // rd=0: hint/nop
            case 1: if (rd) d = make(OP_ADDIW, r, r, 0, imm6); break;
            case 2: d = make(OP_ADDI, xd(rd), 0, 0, imm6); break;
            case 3:
                if (rd == 2) {
                    const int32_t nz = sext((bit(in, 12) << 9) | (bit(in, 6) << 4) | (bit(in, 5) << 6) |
                                                (bits(in, 4, 3) << 7) | (bit(in, 2) << 5),
                                            10);
                    if (nz) d = make(OP_ADDI, 2, 2, 0, nz);
                } else {
                    const int32_t nz = sext((bit(in, 12) << 17) | (bits(in, 6, 2) << 12), 18);
                    if (nz) d = make(OP_LUI, xd(rd), 0, 0, nz);
                }
                break;
            case 4: {
                const uint32_t f2 = bits(in, 11, 10);
                const int32_t sh = static_cast<int32_t>((bit(in, 12) << 5) | bits(in, 6, 2));
                if (f2 == 0) d = make(OP_SRLI, rp_hi, rp_hi, 0, sh);
                else if (f2 == 1) d = make(OP_SRAI, rp_hi, rp_hi, 0, sh);
                else if (f2 == 2) d = make(OP_ANDI, rp_hi, rp_hi, 0, imm6);
                else {
                    const uint32_t k = bits(in, 6, 5);
                    if (!bit(in, 12)) {
                        static const Op ops[4] = {OP_SUB, OP_XOR, OP_OR, OP_AND};
                        d = make(ops[k], rp_hi, rp_hi, rp_lo);
                    } else if (k == 0) {
                        d = make(OP_SUBW, rp_hi, rp_hi, rp_lo);
                    } else if (k == 1) {
                        d = make(OP_ADDW, rp_hi, rp_hi, rp_lo);
                    }
                }
                break;
            }
            case 5: {
                const int32_t off = sext((bit(in, 12) << 11) | (bit(in, 11) << 4) | (bits(in, 10, 9) << 8) |
                                             (bit(in, 8) << 10) | (bit(in, 7) << 6) | (bit(in, 6) << 7) |
                                             (bits(in, 5, 3) << 1) | (bit(in, 2) << 5),
                                         12);
                d = make(OP_JAL, kSinkReg, 0, 0, off);
                break;
            }
            case 6: case 7: {
                const int32_t off = sext((bit(in, 12) << 8) | (bits(in, 11, 10) << 3) | (bits(in, 6, 5) << 6) |
                                             (bits(in, 4, 3) << 1) | (bit(in, 2) << 5),
                                         9);
                d = make(f3 == 6 ? OP_BEQ : OP_BNE, 0, rp_hi, 0, off);
                break;
            }
        }
    } else if (q == 2) {
        switch (f3) {
            case 0: d = make(OP_SLLI, xd(rd), r, 0, static_cast<int32_t>((bit(in, 12) << 5) | bits(in, 6, 2))); break;
            case 1: d = make(OP_FLD, r, 2, 0, static_cast<int32_t>((bit(in, 12) << 5) | (bits(in, 6, 5) << 3) | (bits(in, 4, 2) << 6))); break;
            case 2: if (rd) d = make(OP_LW, r, 2, 0, static_cast<int32_t>((bit(in, 12) << 5) | (bits(in, 6, 4) << 2) | (bits(in, 3, 2) << 6))); break;
            case 3: if (rd) d = make(OP_LD, r, 2, 0, static_cast<int32_t>((bit(in, 12) << 5) | (bits(in, 6, 5) << 3) | (bits(in, 4, 2) << 6))); break;
            case 4:
                if (!bit(in, 12)) {
                    if (rs2 == 0) { if (rd) d = make(OP_JALR, kSinkReg, r, 0, 0); }
                    else d = make(OP_ADD, xd(rd), 0, r2);
                } else {
                    if (rd == 0 && rs2 == 0) d = make(OP_EBREAK);
                    else if (rs2 == 0) d = make(OP_JALR, 1, r, 0, 0);
                    else d = make(OP_ADD, xd(rd), r, r2);
                }
                break;
            case 5: d = make(OP_FSD, 0, 2, r2, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bits(in, 9, 7) << 6))); break;
            case 6: d = make(OP_SW, 0, 2, r2, static_cast<int32_t>((bits(in, 12, 9) << 2) | (bits(in, 8, 7) << 6))); break;
            case 7: d = make(OP_SD, 0, 2, r2, static_cast<int32_t>((bits(in, 12, 10) << 3) | (bits(in, 9, 7) << 6))); break;
        }
    }
    d.set_len(1);
    return d;
}

// mv and li in their many spellings (addi rd, rs, 0; add rd, x0, rs;
// addi rd, x0, imm and the compressed forms) get handlers that read less.
Decoded specialise(Decoded d) {
    if (d.op == OP_ADDI && d.rs1 == 0) {
        d.op = OP_LI;
    } else if (d.op == OP_ADDI && d.imm == 0) {
        d.op = OP_MV;
    } else if (d.op == OP_ADD && (d.rs1 == 0 || d.rs2 == 0)) {
        d.op = OP_MV;
        d.rs1 = d.rs1 == 0 ? d.rs2 : d.rs1;
        d.rs2 = 0;
    } else {
        return d;
    }
    d.set_len(d.len());
    return d;
}

}  // namespace

Decoded decode(uint32_t in, unsigned avail) {
    if ((in & 3) != 3) return specialise(decode16(in & 0xffff));
    if (avail < 4 || (in & 0x1f) == 0x1f) return illegal(2);  // truncated or >32-bit encodings
    return specialise(decode32(in));
}

Decoded fetch_fault() {
    Decoded d = make(OP_FETCH_FAULT);
    d.set_len(1);
    return d;
}

Decoded native_call(Native id) {
    Decoded d = make(OP_NATIVE, 0, 0, 0, static_cast<int32_t>(id));
    d.set_len(1);
    return d;
}

bool ends_block(const Decoded& d) {
    switch (d.op) {
        case OP_JAL: case OP_JALR: case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE:
        case OP_BLTU: case OP_BGEU: case OP_ECALL: case OP_EBREAK: case OP_ILLEGAL:
        case OP_FETCH_FAULT: case OP_NATIVE:
            return true;
        default:
            return false;
    }
}

}  // namespace mtd::sandbox::detail
