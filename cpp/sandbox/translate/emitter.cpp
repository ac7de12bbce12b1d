#include "emitter.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "../decoder.hpp"
#include "../fpu.hpp"
#include "abi.hpp"
#include "regions.hpp"

namespace mtd::sandbox::translate {
namespace {

using detail::Decoded;
using detail::Text;

// The record of slot i, decoding its unit first if need be; false if it
// cannot be decoded (the program's decoded-code limit). A record is read
// as the interpreter reads it: its head with an acquire load, then the rest.
bool record(const Text& t, uint64_t i, Decoded& out) {
    const auto* at = t.slots() + i;
    uint64_t head = __atomic_load_n(reinterpret_cast<const detail::DecodedHead*>(at), __ATOMIC_ACQUIRE);
    if (detail::head_handler(head) == 0) {
        if (i >= t.nslots || !t.decode(i)) return false;
        head = __atomic_load_n(reinterpret_cast<const detail::DecodedHead*>(at), __ATOMIC_ACQUIRE);
    }
    std::memcpy(&out, at, sizeof out);
    return true;
}

// runtime.hpp's, for the tables the emitter lays out.
uint64_t dispatch_hash(uint64_t pc, unsigned bits) { return (pc * 0x9E3779B97F4A7C15ull) >> (64 - bits); }

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%llxull", static_cast<unsigned long long>(v));
    return b;
}
std::string num(int64_t v) { return std::to_string(v) + "ll"; }

// x registers as locals: x0 reads as 0; decoded writes to x0 go to the sink.
// f registers as locals too, bit patterns (singles NaN-boxed).
std::string xr(unsigned r) { return r == 0 ? std::string("0ull") : "r" + std::to_string(r); }
std::string xw(unsigned r) { return r == detail::kSinkReg ? std::string("sink") : "r" + std::to_string(r); }
std::string fr(unsigned r) { return "g" + std::to_string(r); }

// Where each label lives: its entry index (its position among all labels)
// and its region.
struct Label {
    uint32_t entry;
    uint32_t region;
};

// Writes one region, the slots it holds (its own and copies, ascending),
// as one function.
class Writer {
public:
    Writer(const Text& t, const std::vector<uint64_t>& slots, const std::map<uint64_t, Label>& labels,
           const std::vector<Decoded>& recs, uint32_t region)
        : t_(t), slots_(slots), labels_(labels), recs_(recs), region_(region) {
        for (size_t k = 0; k < slots.size(); ++k) at_[slots[k]] = k;
    }

    std::string function();
    bool uses_fp() const { return uses_fp_; }

private:
    uint64_t pc(uint64_t slot) const { return t_.base + 2 * slot; }
    const Decoded& rec(size_t k) const { return recs_[k]; }
    const Label* label(uint64_t slot) const {
        const auto it = labels_.find(slot);
        return it == labels_.end() ? nullptr : &it->second;
    }
    bool is_label(uint64_t slot) const { return label(slot) != nullptr; }
    // The local an instruction writes x[r] through: noted, so that the
    // region hands it back. Only for instructions that write rd (a run
    // head's rd field holds something else).
    std::string xw(unsigned r) {
        if (r < 32) x_written_[r] = true;
        return translate::xw(r);
    }
    std::string fr(unsigned r) { return translate::fr(r); }
    // Instructions from slot k to its segment's end: what entering there
    // adds, and what a stop at it gives back (interpreter.cpp: entry_count).
    uint32_t rest(size_t k) const {
        const Decoded& d = rec(k);
        if (!detail::is_segment_head(d)) return d.cnt;
        return 1 + next_cnt(k);
    }
    bool holds(uint64_t slot) const { return at_.count(slot) != 0; }
    // The position of the instruction that slot k's falls through to, or
    // npos if this region does not hold it.
    size_t successor(size_t k) const {
        const auto it = at_.find(slots_[k] + rec(k).len());
        return it == at_.end() ? std::string::npos : it->second;
    }
    uint32_t next_cnt(size_t k) const {
        // A segment head's successor is in its block, which regions.cpp
        // never cuts: its absence is an emitter bug, and fails the compile.
        const size_t next = successor(k);
        return next == std::string::npos ? 0 : rec(next).cnt;
    }
    void line(const std::string& s) { body_ += s + "\n"; }
    void budget_check(uint64_t slot) {
        line("  if (left <= 0) { pc_out = " + hex(pc(slot)) + "; goto exit_budget; }");
    }
    // A stop at slot k: its instruction and the rest of its segment never ran.
    std::string stop(size_t k, const char* exit) const {
        return "{ left += " + std::to_string(rest(k)) + "; pc_out = " + hex(pc(slots_[k])) + "; goto " + exit + "; }";
    }
    std::string fault(size_t k, const char* code, const std::string& addr) const {
        return "{ c->fault = " + std::string(code) + "; c->fault_addr = " + addr + "; " + stop(k, "exit_fault") + " }";
    }
    std::string store_fault(size_t k, const std::string& addr) const {
        return "{ if (c->host->oom(c->mem)) " + stop(k, "exit_memory") + " " + fault(k, "kFaultStore", addr) + " }";
    }
    static std::string slice_check() {
        return "if (T2_UNLIKELY(c->host->slice_spent(c->mem))) { limit -= static_cast<uint64_t>(left); left = 0; }";
    }
    // A jump to a static target: its label here, its entry in another
    // region (the host calls that region), or back to the interpreter.
    std::string jump(uint64_t target) const {
        const uint64_t off = target - t_.base;
        const Label* l = off < t_.nslots * 2 && !(off & 1) ? label(off / 2) : nullptr;
        if (l && holds(off / 2)) return "goto L" + std::to_string(off / 2) + ";";
        if (l) return "{ c->next_entry = " + std::to_string(l->entry) + "u; goto exit_entry; }";
        return "{ pc_out = " + hex(target) + "; goto exit_jump; }";
    }
    void instruction(size_t k);
    void fp_instruction(size_t k);
    void sp_run(size_t k);

    const Text& t_;
    const std::vector<uint64_t>& slots_;
    const std::map<uint64_t, Label>& labels_;
    const std::vector<Decoded>& recs_;
    const uint32_t region_;
    std::string body_;
    bool uses_fp_ = false;
    bool x_written_[32] = {};
    // Position of each slot this region holds. The instruction after slot k is
    // found here by slot (slots_[k] + its length), never as k + 1: two
    // decodings of the same bytes (a jump into the middle of an
    // instruction) interleave in slot order.
    std::map<uint64_t, size_t> at_;
};

void Writer::instruction(size_t k) {
    const Decoded& d = rec(k);
    const uint64_t slot = slots_[k], here = pc(slot), next = here + 2 * d.len();
    const std::string rs1 = xr(d.rs1), rs2 = xr(d.rs2), imm = num(d.imm);
    auto rd = [&] { return xw(d.rd); };
    auto set = [&](const std::string& expr) { line("  " + rd() + " = " + expr + ";"); };
    auto load = [&](const char* type, const char* widen) {
        line("  { " + std::string(type) + " v; const uint64_t a = " + rs1 + " + " + imm + "; if (T2_UNLIKELY(!load<" +
             type + ">(c, a, v))) " + fault(k, "kFaultLoad", "a") + " " + rd() + " = static_cast<uint64_t>(static_cast<" +
             widen + ">(v)); }");
    };
    auto store = [&](const char* type) {
        line("  { const uint64_t a = " + rs1 + " + " + imm + "; bool slow = false; if (T2_UNLIKELY(!store<" + type +
             ">(c, a, static_cast<" + type + ">(" + rs2 + "), slow))) " + store_fault(k, "a") + " if (slow) " +
             slice_check() + " }");
    };
    auto branch = [&](const std::string& cond) {
        line("  if (" + cond + ") " + jump(here + static_cast<int64_t>(d.imm)));
        line("  " + jump(next));  // not taken: the next block's entry
    };
    auto csr = [&](int mode, const std::string& src, bool writes) {
        line("  { uint64_t old; if (!csr_access(*c->fflags, *c->frm, " + std::to_string(static_cast<uint32_t>(d.imm) & 0xfff) +
             "u, " + src + ", " + std::to_string(mode) + ", " + (writes ? "true" : "false") +
             ", limit - static_cast<uint64_t>(left) - " + std::to_string(rest(k)) + "ull, old)) " +
             fault(k, "kFaultIllegal", hex(here)) + " " + rd() + " = old; }");
    };
    auto amo_addr = [&](unsigned size) {
        return "const uint64_t a = " + rs1 + "; if (a & " + std::to_string(size - 1) + ") " +
               fault(k, "kFaultMisaligned", "a") + " ";
    };
    auto amo = [&](const char* type, int kind) {
        const std::string size = std::string("sizeof(") + type + ")";
        line("  { " + amo_addr(std::string(type) == "uint32_t" ? 4 : 8) + "uint8_t* p = c->host->write_ptr(c->mem, a, " +
             size + "); if (!p) " + store_fault(k, "a") + " " + slice_check() + " " + type + " old; std::memcpy(&old, p, " +
             size + "); const " + type + " nv = amo_apply<" + type + ">(" + std::to_string(kind) + ", old, static_cast<" +
             type + ">(" + rs2 + ")); std::memcpy(p, &nv, " + size + "); " + rd() +
             " = static_cast<uint64_t>(static_cast<int64_t>(static_cast<std::make_signed_t<" + type + ">>(old))); }");
    };
    auto lr = [&](const char* type, unsigned size, const char* widen) {
        line("  { " + amo_addr(size) + type + " v; if (!c->host->load(c->mem, a, &v, " + std::to_string(size) + ")) " +
             fault(k, "kFaultLoad", "a") + " *c->reservation = a; " + rd() + " = static_cast<uint64_t>(static_cast<" +
             widen + ">(v)); }");
    };
    auto sc = [&](const char* type, unsigned size) {
        line("  { " + amo_addr(size) + "if (*c->reservation == a) { const " + type + " v = static_cast<" + type + ">(" +
             rs2 + "); if (!c->host->store(c->mem, a, &v, " + std::to_string(size) + ")) " + store_fault(k, "a") + " " +
             slice_check() + " " + rd() + " = 0; } else { " + rd() + " = 1; } *c->reservation = ~0ull; }");
    };
    using namespace detail;
    if (d.handler >> 1 == OP_SD_SP_RUN || d.handler >> 1 == OP_LD_SP_RUN) sp_run(k);
    switch (d.op) {
        case OP_LUI: set(num(d.imm)); break;
        case OP_LI: set(num(d.imm)); break;
        case OP_AUIPC: set(hex(here + static_cast<int64_t>(d.imm))); break;
        case OP_MV: set(rs1); break;
        case OP_ADDI: set(rs1 + " + " + imm); break;
        case OP_SLTI: set("(static_cast<int64_t>(" + rs1 + ") < " + imm + ")"); break;
        case OP_SLTIU: set("(" + rs1 + " < static_cast<uint64_t>(" + imm + "))"); break;
        case OP_XORI: set(rs1 + " ^ static_cast<uint64_t>(" + imm + ")"); break;
        case OP_ORI: set(rs1 + " | static_cast<uint64_t>(" + imm + ")"); break;
        case OP_ANDI: set(rs1 + " & static_cast<uint64_t>(" + imm + ")"); break;
        case OP_SLLI: set(rs1 + " << " + std::to_string(d.imm)); break;
        case OP_SRLI: set(rs1 + " >> " + std::to_string(d.imm)); break;
        case OP_SRAI: set("static_cast<uint64_t>(static_cast<int64_t>(" + rs1 + ") >> " + std::to_string(d.imm) + ")"); break;
        case OP_ADD: set(rs1 + " + " + rs2); break;
        case OP_SUB: set(rs1 + " - " + rs2); break;
        case OP_SLL: set(rs1 + " << (" + rs2 + " & 63)"); break;
        case OP_SLT: set("(static_cast<int64_t>(" + rs1 + ") < static_cast<int64_t>(" + rs2 + "))"); break;
        case OP_SLTU: set("(" + rs1 + " < " + rs2 + ")"); break;
        case OP_XOR: set(rs1 + " ^ " + rs2); break;
        case OP_SRL: set(rs1 + " >> (" + rs2 + " & 63)"); break;
        case OP_SRA: set("static_cast<uint64_t>(static_cast<int64_t>(" + rs1 + ") >> (" + rs2 + " & 63))"); break;
        case OP_OR: set(rs1 + " | " + rs2); break;
        case OP_AND: set(rs1 + " & " + rs2); break;
        case OP_ADDIW: set("sx32(" + rs1 + " + " + imm + ")"); break;
        case OP_SLLIW: set("sx32(static_cast<uint32_t>(" + rs1 + ") << " + std::to_string(d.imm) + ")"); break;
        case OP_SRLIW: set("sx32(static_cast<uint32_t>(" + rs1 + ") >> " + std::to_string(d.imm) + ")"); break;
        case OP_SRAIW: set("sx32(static_cast<uint32_t>(static_cast<int32_t>(" + rs1 + ") >> " + std::to_string(d.imm) + "))"); break;
        case OP_ADDW: set("sx32(" + rs1 + " + " + rs2 + ")"); break;
        case OP_SUBW: set("sx32(" + rs1 + " - " + rs2 + ")"); break;
        case OP_SLLW: set("sx32(static_cast<uint32_t>(" + rs1 + ") << (" + rs2 + " & 31))"); break;
        case OP_SRLW: set("sx32(static_cast<uint32_t>(" + rs1 + ") >> (" + rs2 + " & 31))"); break;
        case OP_SRAW: set("sx32(static_cast<uint32_t>(static_cast<int32_t>(" + rs1 + ") >> (" + rs2 + " & 31)))"); break;
        case OP_MUL: set(rs1 + " * " + rs2); break;
        case OP_MULH: set("mulh(" + rs1 + ", " + rs2 + ")"); break;
        case OP_MULHSU: set("mulhsu(" + rs1 + ", " + rs2 + ")"); break;
        case OP_MULHU: set("mulhu(" + rs1 + ", " + rs2 + ")"); break;
        case OP_DIV: set("div(" + rs1 + ", " + rs2 + ")"); break;
        case OP_DIVU: set("divu(" + rs1 + ", " + rs2 + ")"); break;
        case OP_REM: set("rem(" + rs1 + ", " + rs2 + ")"); break;
        case OP_REMU: set("remu(" + rs1 + ", " + rs2 + ")"); break;
        case OP_MULW: set("sx32(static_cast<uint32_t>(" + rs1 + ") * static_cast<uint32_t>(" + rs2 + "))"); break;
        case OP_DIVW: set("divw(" + rs1 + ", " + rs2 + ")"); break;
        case OP_DIVUW: set("divuw(" + rs1 + ", " + rs2 + ")"); break;
        case OP_REMW: set("remw(" + rs1 + ", " + rs2 + ")"); break;
        case OP_REMUW: set("remuw(" + rs1 + ", " + rs2 + ")"); break;
        case OP_LB: load("int8_t", "int64_t"); break;
        case OP_LH: load("int16_t", "int64_t"); break;
        case OP_LW: load("int32_t", "int64_t"); break;
        case OP_LD: load("uint64_t", "uint64_t"); break;
        case OP_LBU: load("uint8_t", "uint64_t"); break;
        case OP_LHU: load("uint16_t", "uint64_t"); break;
        case OP_LWU: load("uint32_t", "uint64_t"); break;
        case OP_SB: store("uint8_t"); break;
        case OP_SH: store("uint16_t"); break;
        case OP_SW: store("uint32_t"); break;
        case OP_SD: store("uint64_t"); break;
        case OP_FENCE: break;
        case OP_CSRRW: csr(0, rs1, true); break;
        case OP_CSRRS: csr(1, rs1, d.rs1 != 0); break;
        case OP_CSRRC: csr(2, rs1, d.rs1 != 0); break;
        case OP_CSRRWI: csr(0, std::to_string(d.rs1) + "ull", true); break;
        case OP_CSRRSI: csr(1, std::to_string(d.rs1) + "ull", d.rs1 != 0); break;
        case OP_CSRRCI: csr(2, std::to_string(d.rs1) + "ull", d.rs1 != 0); break;
        case OP_LR_W: lr("int32_t", 4, "int64_t"); break;
        case OP_LR_D: lr("uint64_t", 8, "uint64_t"); break;
        case OP_SC_W: sc("uint32_t", 4); break;
        case OP_SC_D: sc("uint64_t", 8); break;
        case OP_AMOSWAP_W: amo("uint32_t", 0); break;
        case OP_AMOADD_W: amo("uint32_t", 1); break;
        case OP_AMOXOR_W: amo("uint32_t", 2); break;
        case OP_AMOAND_W: amo("uint32_t", 3); break;
        case OP_AMOOR_W: amo("uint32_t", 4); break;
        case OP_AMOMIN_W: amo("uint32_t", 5); break;
        case OP_AMOMAX_W: amo("uint32_t", 6); break;
        case OP_AMOMINU_W: amo("uint32_t", 7); break;
        case OP_AMOMAXU_W: amo("uint32_t", 8); break;
        case OP_AMOSWAP_D: amo("uint64_t", 0); break;
        case OP_AMOADD_D: amo("uint64_t", 1); break;
        case OP_AMOXOR_D: amo("uint64_t", 2); break;
        case OP_AMOAND_D: amo("uint64_t", 3); break;
        case OP_AMOOR_D: amo("uint64_t", 4); break;
        case OP_AMOMIN_D: amo("uint64_t", 5); break;
        case OP_AMOMAX_D: amo("uint64_t", 6); break;
        case OP_AMOMINU_D: amo("uint64_t", 7); break;
        case OP_AMOMAXU_D: amo("uint64_t", 8); break;

        // ---- the ends of blocks
        case OP_JAL:
            set(hex(next));
            line("  " + jump(here + static_cast<int64_t>(d.imm)));
            break;
        case OP_JALR:
            // The target first: rd may be rs1.
            line("  target = (" + rs1 + " + " + imm + ") & ~1ull;");
            set(hex(next));
            line("  goto dispatch;");
            break;
        case OP_BEQ: branch(rs1 + " == " + rs2); break;
        case OP_BNE: branch(rs1 + " != " + rs2); break;
        case OP_BLT: branch("static_cast<int64_t>(" + rs1 + ") < static_cast<int64_t>(" + rs2 + ")"); break;
        case OP_BGE: branch("static_cast<int64_t>(" + rs1 + ") >= static_cast<int64_t>(" + rs2 + ")"); break;
        case OP_BLTU: branch(rs1 + " < " + rs2); break;
        case OP_BGEU: branch(rs1 + " >= " + rs2); break;
        case OP_ECALL: line("  " + stop(k, "exit_ecall")); break;
        case OP_EBREAK: line("  " + fault(k, "kFaultBreakpoint", hex(here))); break;
        case OP_ILLEGAL: line("  " + fault(k, "kFaultIllegal", hex(here))); break;
        case OP_FETCH_FAULT: line("  " + fault(k, "kFaultFetch", hex(here))); break;
        case OP_NATIVE:
            // A builtin's whole call (natives.hpp), on the hart's a0..a2.
            line("  { c->x[10] = r10; c->x[11] = r11; c->x[12] = r12; uint64_t charged = 0;");
            line("    const int s = c->host->native(c->hart, c->mem, " + std::to_string(d.imm) +
                 "u, static_cast<uint64_t>(left) + 1, &charged);");
            line("    if (s == 1) { c->fault = 0; " + stop(k, "exit_fault") + " }");  // the hart holds the fault
            line("    if (s == 2) " + stop(k, "exit_budget"));
            line("    if (s == 3) " + stop(k, "exit_memory"));
            x_written_[10] = true;
            line("    r10 = c->x[10]; left -= static_cast<int64_t>(charged) - 1; " + slice_check());
            line("    target = r1 & ~1ull; goto dispatch; }");
            break;
        default:
            fp_instruction(k);
    }
}

// A run of sp-relative sd or ld that Text::fill found (decoder.hpp:
// kMaxRun): when its bytes lie in one page that the translation cache
// holds, one check covers them all, as in the interpreter's run handlers;
// otherwise each instruction runs on its own, below.
void Writer::sp_run(size_t k) {
    const Decoded& d = rec(k);
    const bool stores = d.op == detail::OP_SD;
    const unsigned lo = d.rm, hi = stores ? d.rd : d.rs2, n = d.rs3;
    if (hi < lo) return;
    const std::string span = std::to_string((hi - lo) * 8 + 8);
    // The members, walked by slot as they run, each checked to be what the
    // one check below covers: an sp-relative access of this kind inside
    // [lo, hi] words, not a segment head (whose count is added when it
    // runs), and for loads not moving sp before the last. Anything else:
    // no fast path, each instruction on its own.
    std::string body;
    size_t m_at = k;
    for (unsigned j = 0; j < n; ++j) {
        if (j > 0 && (m_at = successor(m_at)) == std::string::npos) return;
        const Decoded& m = rec(m_at);
        if (m.op != d.op || m.rs1 != 2 || m.imm % 8 != 0 || m.imm < static_cast<int32_t>(lo) * 8 ||
            m.imm > static_cast<int32_t>(hi) * 8 || (j > 0 && detail::is_segment_head(m)) ||
            (!stores && m.rd == 2 && j + 1 < n))
            return;
        const std::string at = "p + " + std::to_string(m.imm - static_cast<int32_t>(lo) * 8);
        body += stores ? " put64(" + at + ", " + xr(m.rs2) + ");" : " " + xw(m.rd) + " = get64(" + at + ");";
    }
    const size_t after = successor(m_at);
    if (after == std::string::npos) return;
    const std::string base = "const uint64_t lo = r2 + " + std::to_string(lo * 8) + "ull;";
    const std::string next = std::to_string(slots_[after]);
    if (stores)
        line("  { " + base + " const WriteSlot& t = wslot(c, lo); if ((lo >> 12) == t.vpn && t.gen == c->gen && (lo & 4095) + " +
             span + " <= 4096) { uint8_t* p = reinterpret_cast<uint8_t*>(lo + t.off); mark_lines(t, lo, " + span + ");" +
             body + " goto B" + next + "; } }");
    else
        line("  { " + base + " const ReadSlot& t = rslot(c, lo); if ((lo >> 12) == t.vpn && (lo & 4095) + " + span +
             " <= 4096) { const uint8_t* p = reinterpret_cast<const uint8_t*>(lo + t.off);" + body + " goto B" + next +
             "; } }");
}

void Writer::fp_instruction(size_t k) {
    using namespace detail;
    const Decoded& d = rec(k);
    const uint64_t here = pc(slots_[k]);
    // f registers are double locals (runtime.hpp: dbl, bits): D arithmetic
    // takes them as they are (d1..d3), everything else as bits (f1..f3).
    const std::string x1 = xr(d.rs1), fd = fr(d.rd);
    const std::string d1 = fr(d.rs1), d2 = fr(d.rs2), d3 = fr(d.rs3);
    const std::string f1 = "bits(" + d1 + ")", f2 = "bits(" + d2 + ")", f3 = "bits(" + d3 + ")";
    const std::string imm = num(d.imm), rm = std::to_string(d.rm) + "u";
    // The effective rounding mode of a conversion to an integer.
    const std::string rm_eff = d.rm == kDYN ? std::string("*c->frm") : rm;
    uses_fp_ = true;
    auto setd = [&](const std::string& expr) { line("  " + fd + " = " + expr + ";"); };  // a double
    auto setf = [&](const std::string& expr) { setd("dbl(" + expr + ")"); };                 // bits
    auto setx = [&](const std::string& expr) { line("  " + xw(d.rd) + " = " + expr + ";"); };
    auto bin = [&](const char* name) { setf(std::string(name) + "<" + rm + ">(" + f1 + ", " + f2 + ", *c->frm)"); };
    auto un = [&](const char* name) { setf(std::string(name) + "<" + rm + ">(" + f1 + ", 0, *c->frm)"); };
    auto fma = [&](const char* name) { setf(std::string(name) + "<" + rm + ">(" + f1 + ", " + f2 + ", " + f3 + ", *c->frm)"); };
    auto bin_d = [&](const char* name) { setd(std::string(name) + "<" + rm + ">(" + d1 + ", " + d2 + ", *c->frm)"); };
    auto un_d = [&](const char* name) { setd(std::string(name) + "<" + rm + ">(" + d1 + ", 0.0, *c->frm)"); };
    auto fma_d = [&](const char* name) { setd(std::string(name) + "<" + rm + ">(" + d1 + ", " + d2 + ", " + d3 + ", *c->frm)"); };
    auto from_int = [&](const char* name) { setf(std::string(name) + "<" + rm + ">(" + x1 + ", *c->frm)"); };
    switch (d.op) {
        case OP_FLW:
            line("  { uint32_t v; const uint64_t a = " + x1 + " + " + imm + "; if (!c->host->load(c->mem, a, &v, 4)) " +
                 fault(k, "kFaultLoad", "a") + " " + fd + " = dbl(box_bits(v)); }");
            break;
        case OP_FLD:
            line("  { uint64_t v; const uint64_t a = " + x1 + " + " + imm + "; if (!load<uint64_t>(c, a, v)) " +
                 fault(k, "kFaultLoad", "a") + " " + fd + " = dbl(v); }");
            break;
        case OP_FSW:
            line("  { const uint64_t a = " + x1 + " + " + imm + "; const uint32_t v = static_cast<uint32_t>(" + f2 +
                 "); if (!c->host->store(c->mem, a, &v, 4)) " + store_fault(k, "a") + " " + slice_check() + " }");
            break;
        case OP_FSD:
            line("  { const uint64_t a = " + x1 + " + " + imm + "; bool slow = false; if (!store<uint64_t>(c, a, " + f2 +
                 ", slow)) " + store_fault(k, "a") + " if (slow) " + slice_check() + " }");
            break;
        case OP_FADD_S: bin("fadd_s"); break;
        case OP_FSUB_S: bin("fsub_s"); break;
        case OP_FMUL_S: bin("fmul_s"); break;
        case OP_FDIV_S: bin("fdiv_s"); break;
        case OP_FSQRT_S: un("fsqrt_s"); break;
        case OP_FADD_D: bin_d("fadd_d"); break;
        case OP_FSUB_D: bin_d("fsub_d"); break;
        case OP_FMUL_D: bin_d("fmul_d"); break;
        case OP_FDIV_D: bin_d("fdiv_d"); break;
        case OP_FSQRT_D: un_d("fsqrt_d"); break;
        case OP_FMADD_S: fma("fmadd_s"); break;
        case OP_FMSUB_S: fma("fmsub_s"); break;
        case OP_FNMSUB_S: fma("fnmsub_s"); break;
        case OP_FNMADD_S: fma("fnmadd_s"); break;
        case OP_FMADD_D: fma_d("fmadd_d"); break;
        case OP_FMSUB_D: fma_d("fmsub_d"); break;
        case OP_FNMSUB_D: fma_d("fnmsub_d"); break;
        case OP_FNMADD_D: fma_d("fnmadd_d"); break;
        case OP_FSGNJ_S: setf("fsgnj_s(" + f1 + ", " + f2 + ")"); break;
        case OP_FSGNJN_S: setf("fsgnjn_s(" + f1 + ", " + f2 + ")"); break;
        case OP_FSGNJX_S: setf("fsgnjx_s(" + f1 + ", " + f2 + ")"); break;
        case OP_FSGNJ_D: setf("(" + f1 + " & ~(1ull << 63)) | (" + f2 + " & (1ull << 63))"); break;
        case OP_FSGNJN_D: setf("(" + f1 + " & ~(1ull << 63)) | (~" + f2 + " & (1ull << 63))"); break;
        case OP_FSGNJX_D: setf(f1 + " ^ (" + f2 + " & (1ull << 63))"); break;
        case OP_FMIN_S: setf("box_bits(fminmax_s<false>(unbox_bits(" + f1 + "), unbox_bits(" + f2 + "), *c->fflags))"); break;
        case OP_FMAX_S: setf("box_bits(fminmax_s<true>(unbox_bits(" + f1 + "), unbox_bits(" + f2 + "), *c->fflags))"); break;
        case OP_FMIN_D: setf("fminmax_d<false>(" + f1 + ", " + f2 + ", *c->fflags)"); break;
        case OP_FMAX_D: setf("fminmax_d<true>(" + f1 + ", " + f2 + ", *c->fflags)"); break;
        case OP_FCVT_W_S: setx("cvt_s<int32_t>(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_WU_S: setx("cvt_wu_s(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_L_S: setx("cvt_s<int64_t>(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_LU_S: setx("cvt_lu_s(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_W_D: setx("cvt_d<int32_t>(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_WU_D: setx("cvt_wu_d(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_L_D: setx("cvt_d<int64_t>(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_LU_D: setx("cvt_lu_d(" + f1 + ", " + rm_eff + ", c->fflags)"); break;
        case OP_FCVT_S_W: from_int("fcvt_s_w"); break;
        case OP_FCVT_S_WU: from_int("fcvt_s_wu"); break;
        case OP_FCVT_S_L: from_int("fcvt_s_l"); break;
        case OP_FCVT_S_LU: from_int("fcvt_s_lu"); break;
        case OP_FCVT_D_W: from_int("fcvt_d_w"); break;
        case OP_FCVT_D_WU: from_int("fcvt_d_wu"); break;
        case OP_FCVT_D_L: from_int("fcvt_d_l"); break;
        case OP_FCVT_D_LU: from_int("fcvt_d_lu"); break;
        case OP_FCVT_S_D: un("fcvt_s_d"); break;
        case OP_FCVT_D_S: setf("fcvt_d_s(" + f1 + ")"); break;
        case OP_FMV_X_W: setx("sx32(static_cast<uint32_t>(" + f1 + "))"); break;
        case OP_FMV_W_X: setf("box_bits(static_cast<uint32_t>(" + x1 + "))"); break;
        case OP_FMV_X_D: setx(f1); break;
        case OP_FMV_D_X: setf(x1); break;
        case OP_FCLASS_S: setx("fclass_bits<uint32_t>(unbox_bits(" + f1 + "), 23, 8)"); break;
        case OP_FCLASS_D: setx("fclass_bits<uint64_t>(" + f1 + ", 52, 11)"); break;
        case OP_FEQ_S: setx("fcmp_s<true>(" + f1 + ", " + f2 + ", c->fflags, [](float a, float b) { return a == b; })"); break;
        case OP_FLT_S: setx("fcmp_s<false>(" + f1 + ", " + f2 + ", c->fflags, [](float a, float b) { return a < b; })"); break;
        case OP_FLE_S: setx("fcmp_s<false>(" + f1 + ", " + f2 + ", c->fflags, [](float a, float b) { return a <= b; })"); break;
        case OP_FEQ_D: setx("fcmp_d<true>(" + f1 + ", " + f2 + ", c->fflags, [](double a, double b) { return a == b; })"); break;
        case OP_FLT_D: setx("fcmp_d<false>(" + f1 + ", " + f2 + ", c->fflags, [](double a, double b) { return a < b; })"); break;
        case OP_FLE_D: setx("fcmp_d<false>(" + f1 + ", " + f2 + ", c->fflags, [](double a, double b) { return a <= b; })"); break;
        default: {
            char b[64];
            std::snprintf(b, sizeof b, "op %u at 0x%llx", static_cast<unsigned>(d.op), static_cast<unsigned long long>(here));
            line(std::string("#error untranslated ") + b);
        }
    }
}

std::string Writer::function() {
    for (size_t k = 0; k < slots_.size(); ++k) {
        const uint64_t slot = slots_[k];
        const Decoded& d = rec(k);
        // Written just after the previous one, which runs on into it.
        const bool falls_in = k > 0 && !detail::ends_block(rec(k - 1)) && successor(k - 1) == k;
        if (is_label(slot)) {
            // Entered by a jump: a block entry, checked and counted (BLOCK).
            // Reached by falling through, it is counted already.
            if (falls_in) line("  goto B" + std::to_string(slot) + ";");
            line("L" + std::to_string(slot) + ":");
            budget_check(slot);
            line("  left -= " + std::to_string(d.cnt) + ";");
        }
        line("B" + std::to_string(slot) + ":");
        if (detail::is_segment_head(d)) {
            budget_check(slot);
            line("  left -= " + std::to_string(1 + next_cnt(k)) + ";");
        }
        instruction(k);
        if (!detail::ends_block(d)) {
            // It runs on into its successor: the next one written, or a goto.
            const size_t next = successor(k);
            if (next == std::string::npos)  // regions.cpp never cuts a block
                line("#error the instruction after " + hex(pc(slot)) + " is in another region");
            else if (next != k + 1)
                line("  goto B" + std::to_string(slots_[next]) + ";");
        }
    }
    // The labels this region holds (slot, entry): the host enters it at
    // those it owns; its jumps through registers find any of them.
    std::vector<std::pair<uint64_t, uint32_t>> owned, here;
    for (const auto& [slot, l] : labels_) {
        if (l.region == region_) owned.emplace_back(slot, l.entry);
        if (holds(slot)) here.emplace_back(slot, l.entry);
    }
    std::string out;
    out += "static int region" + std::to_string(region_) + "(Ctx* c, uint32_t entry) {\n";
    out += "  uint64_t sink = 0, target = 0, pc_out = 0; int code = kExitJump;\n";
    out += "  int64_t left = c->left; uint64_t limit = c->limit;\n";
    for (int r = 1; r < 32; ++r) out += "  uint64_t r" + std::to_string(r) + " = c->x[" + std::to_string(r) + "];\n";
    if (uses_fp_)
        for (int r = 0; r < 32; ++r) out += "  double g" + std::to_string(r) + " = dbl(c->f[" + std::to_string(r) + "]);\n";
    out += "  (void)sink; (void)target;\n  switch (entry) {\n";
    for (const auto& [slot, entry] : owned) out += "    case " + std::to_string(entry) + "u: goto L" + std::to_string(slot) + ";\n";
    out += "    default: pc_out = c->pc; goto exit_jump;\n  }\n";
    out += body_;
    // Jumps through a register (returns, mostly) find their label in an
    // open-addressing table of this region's labels (runtime.hpp:
    // dispatch_hash), a probe or two where a switch was a binary search.
    unsigned bits = 1;
    while ((size_t{1} << bits) < 2 * here.size()) ++bits;
    constexpr uint64_t kFree = ~0ull;  // slot 0 is a slot like any other
    std::vector<uint64_t> table(size_t{1} << bits, kFree);
    for (const auto& [slot, entry] : here) {
        uint64_t at = dispatch_hash(pc(slot), bits);
        while (table[at] != kFree) at = (at + 1) & ((uint64_t{1} << bits) - 1);
        table[at] = slot;
    }
    out += "dispatch: {\n  static const DispatchEntry table[] = {";
    for (uint64_t slot : table)
        out += slot != kFree ? "{" + hex(pc(slot)) + ", &&L" + std::to_string(slot) + "},"
                             : std::string("{0, nullptr},");
    // An empty entry is one without a label, and it is tested first: a
    // guest may jump to any address, 0 included.
    out += "};\n  for (uint64_t at = dispatch_hash(target, " + std::to_string(bits) + ");; at = (at + 1) & " +
           hex((uint64_t{1} << bits) - 1) + ") {\n";
    out += "    if (!table[at].label) break;\n";
    out += "    if (table[at].pc == target) goto *table[at].label;\n  }\n  pc_out = target; goto exit_jump;\n}\n";
    out += "exit_entry: code = kExitEntry; goto out;\n";
    out += "exit_jump: code = kExitJump; goto out;\n";
    out += "exit_ecall: code = kExitEcall; goto out;\n";
    out += "exit_fault: code = kExitFault; goto out;\n";
    out += "exit_budget: code = kExitBudget; goto out;\n";
    out += "exit_memory: code = kExitMemory; goto out;\n";
    out += "out:\n";
    // Only what this region may have changed goes back.
    for (int r = 1; r < 32; ++r)
        if (x_written_[r]) out += "  c->x[" + std::to_string(r) + "] = r" + std::to_string(r) + ";\n";
    if (uses_fp_)
        for (int r = 0; r < 32; ++r) out += "  c->f[" + std::to_string(r) + "] = bits(g" + std::to_string(r) + ");\n";
    out += "  c->left = left; c->limit = limit; c->pc = pc_out;\n  return code;\n}\n";
    return out;
}

}  // namespace

Emitted emit_translation(const Text& t, const std::vector<uint64_t>& entry_slots) {
    // Each entry's block, from it to the instruction that ends it; an entry
    // whose block cannot be decoded whole is left out.
    std::set<uint64_t> emitted, entry_set;
    std::vector<uint64_t> block;
    for (uint64_t e : entry_slots) {
        if (e >= t.nslots) continue;
        block.clear();
        bool whole = true;
        for (uint64_t i = e;;) {
            Decoded d;
            if (!record(t, i, d)) {
                whole = false;
                break;
            }
            block.push_back(i);
            if (i >= t.nslots || detail::ends_block(d)) break;
            i += d.len();
        }
        if (!whole) continue;
        emitted.insert(block.begin(), block.end());
        entry_set.insert(e);
    }
    const std::vector<uint64_t> slots(emitted.begin(), emitted.end());
    std::vector<Decoded> recs(slots.size());
    for (size_t k = 0; k < slots.size(); ++k) record(t, slots[k], recs[k]);
    // Every block entry in what is emitted gets a label too: the fall-through
    // of a branch and every static target (an entry the interpreter would
    // check and count), so control stays in translated code.
    for (size_t k = 0; k < slots.size(); ++k)
        each_target(slots, recs, k, [&](uint64_t target_slot, bool) {
            if (emitted.count(target_slot) && target_slot < t.nslots) entry_set.insert(target_slot);
        });
    Emitted out;
    if (entry_set.empty()) return out;
    const Regions regions = form_regions(slots, recs, t.nslots);
    const uint32_t nregions = static_cast<uint32_t>(regions.members.size());
    std::map<uint64_t, Label> labels;
    uint32_t entry = 0;
    for (uint64_t slot : entry_set) {
        const size_t k = static_cast<size_t>(std::lower_bound(slots.begin(), slots.end(), slot) - slots.begin());
        labels.emplace(slot, Label{entry++, regions.of[k]});
    }
    std::string body;
    bool uses_fp = false;
    std::vector<uint64_t> region_slots;
    std::vector<Decoded> region_recs;
    for (uint32_t r = 0; r < nregions; ++r) {
        region_slots.clear();
        region_recs.clear();
        for (size_t k : regions.members[r]) {
            region_slots.push_back(slots[k]);
            region_recs.push_back(recs[k]);
        }
        Writer w(t, region_slots, labels, region_recs, r);
        body += w.function();
        uses_fp |= w.uses_fp();
    }
    out.source = "// mtd translation (abi " + std::to_string(kAbiVersion) + ") of " + std::to_string(slots.size()) +
                 " instructions in " + std::to_string(nregions) + " regions\n#include \"runtime.hpp\"\nusing namespace mtd_t2;\n";
    out.source += body;
    // On each exported object: a const one would otherwise have internal linkage.
    const std::string c_const = "T2_EXPORT const ";
    out.source += c_const + "uint32_t mtd_t2_abi = " + std::to_string(kAbiVersion) + ";\n";
    out.source += c_const + "uint64_t mtd_t2_base = " + hex(t.base) + ";\n";
    out.source += c_const + "uint64_t mtd_t2_nslots = " + hex(t.nslots) + ";\n";
    out.source += c_const + "uint32_t mtd_t2_uses_fp = " + std::string(uses_fp ? "1" : "0") + ";\n";
    out.source += c_const + "uint32_t mtd_t2_entry_count = " + std::to_string(labels.size()) + ";\n";
    out.source += c_const + "uint32_t mtd_t2_region_count = " + std::to_string(nregions) + ";\n";
    std::string slots_list, regions_of, functions;
    for (const auto& [slot, l] : labels) {
        slots_list += std::to_string(slot) + "u,";
        regions_of += std::to_string(l.region) + "u,";
    }
    for (uint32_t r = 0; r < nregions; ++r) functions += "region" + std::to_string(r) + ",";
    out.source += c_const + "uint32_t mtd_t2_entry_slots[] = {" + slots_list + "};\n";
    out.source += c_const + "uint32_t mtd_t2_entry_region[] = {" + regions_of + "};\n";
    out.source += c_const + "RegionFn mtd_t2_regions[] = {" + functions + "};\n";
    out.entries = labels.size();
    out.instructions = slots.size();
    return out;
}

std::vector<uint64_t> entries_run(const std::vector<uint8_t>& counts, uint8_t min_runs) {
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < counts.size(); ++i)
        if (counts[i] >= min_runs && counts[i] != 0) out.push_back(i);
    return out;
}

}  // namespace mtd::sandbox::translate
