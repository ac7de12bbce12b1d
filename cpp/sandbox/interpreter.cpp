// The interpreter: threaded dispatch over the shared decoder cache with
// GCC's computed goto. The current instruction is a pointer `d` into the
// cache; pc is derived from it only when needed (auipc, links, stops), so
// sequential flow is one constant add and one indirect jump: each handler
// exists twice (interpreter_ops.inc, interpreter_fp_ops.inc), for 2- and
// 4-byte encodings.
//
// Safety rules enforced here:
//  - every data access goes through Memory's checked load/store;
//  - control transfers are range-checked against the decoded text, and
//    running off its end lands on a FETCH_FAULT sentinel;
//  - the instruction budget is checked wherever a count is added: at every
//    block entry (jump, branch taken or not, run start) and at every SEGMENT
//    record, which cuts straight-line code into pieces of at most
//    kMaxSegment instructions; instructions are counted exactly (BLOCK).
#pragma GCC optimize("no-gcse")  // recommended for computed-goto dispatch
// Blocks in source order, each slow path near its handler: the default
// (software trace cache) moves them to the function's far end, more pages
// of code for a request to touch (cache_footprint.sh: 17 -> 14 pages).
#pragma GCC optimize("reorder-blocks-algorithm=simple")
#include <cmath>
#include <cstring>

#include "common/hot_path.hpp"
#include "atomics.hpp"
#include "fpu.hpp"
#include "hart.hpp"

namespace mtd::sandbox::detail {
namespace {

// Keeps a value in an SSE register across a point the compiler must not
// move FP arithmetic over (a temporary MXCSR rounding-mode change).
#define FP_PIN(v) __asm__ volatile("" : "+x"(v))

}  // namespace

namespace {

// What else a block entry does (BLOCK): nothing, stop where translated
// code takes over, or note that the entry ran.
enum class Mode { kPlain, kTier2, kProfile };

template <Mode kMode>
MTD_HOT_PATH Stop run(Hart& h, Memory& m, const Text& t, uint64_t limit, const uint64_t* translated,
                      uint8_t* entries_run) {
    // Indexed by Decoded::handler: each op's compressed form, then its
    // 4-byte form (handler_of).
    static void* const labels[] = {
#define MTD_OP_LABELS(name) &&op_##name##_1, &&op_##name##_2,
        MTD_OPS(MTD_OP_LABELS)
#undef MTD_OP_LABELS
    };
    static_assert(sizeof(labels) / sizeof(labels[0]) == kHandlerCount);
    // The same, but every FP instruction (FLW and all after it) first copies
    // the hart's f registers from its master (Hart::fork_from).
#define MTD_OP_FP_FIRST(name)                                    \
    OP_##name >= OP_FLW ? &&fp_first_use : &&op_##name##_1,      \
        OP_##name >= OP_FLW ? &&fp_first_use : &&op_##name##_2,
    static void* const labels_f_unset[] = {MTD_OPS(MTD_OP_FP_FIRST)};
#undef MTD_OP_FP_FIRST
    static_assert(sizeof(labels_f_unset) == sizeof(labels));
    // The table's address in a register for the whole run: otherwise GCC
    // rematerialises it (one lea) at every one of the many dispatch points.
    void* const* table = h.f_source ? labels_f_unset : labels;
    __asm__("" : "+r"(table));

    uint64_t* const x = h.x;
    uint64_t* const f = h.f;
    const Decoded* const dc = t.slots();
    const uint64_t base = t.base;
    const uint64_t nslots = t.nslots;
    // Instructions the budget has left: one live value for the hot ENTER
    // path instead of a count and a limit. h.instret = limit - left at exit.
    int64_t left = static_cast<int64_t>(limit - h.instret);
    // pc of slot d = base + (d - dc) * 2; slots are 16 bytes, so this is
    // (address of d) / 8 + pc_bias: one register for every pc computation.
    const uint64_t pc_bias = base - (reinterpret_cast<uintptr_t>(dc) >> 3);
    const Decoded* d;
    Stop result;

    const uint32_t host_mxcsr = _mm_getcsr();
    _mm_setcsr(guest_mxcsr(h.frm));

#define PC ((reinterpret_cast<uintptr_t>(d) >> 3) + pc_bias)
#define RETIRED_BEFORE_D (limit - static_cast<uint64_t>(left) - entry_count(d))
    // Mid-block: the record is published (text.hpp), a plain load will do.
#define DISPATCH() goto* table[d->handler]
    // Instructions are counted per basic block: entering a block at slot d
    // adds d->cnt (the instructions from d to the block's end), so the count
    // is exact at every jump, and at any other point RETIRED_BEFORE_D is the
    // number retired before d (what `out` stores).
#define NEXT()             \
    do {                   \
        d += STEP;         \
        DISPATCH();        \
    } while (0)
    // Block entry at d, by a jump or by falling through a branch not taken:
    // stop if the budget is spent, else add the block's count. Handler and
    // cnt come from one acquire load of the record's head, as another thread
    // may be publishing it right now (text.hpp). An undecoded record reads
    // as handler OP_UNDECODED with cnt 0.
#define BLOCK()                                                             \
    do {                                                                    \
        if (__builtin_expect(left <= 0, 0)) goto stop_budget;               \
        if constexpr (kMode != Mode::kPlain) {                              \
            const uint64_t s_ = static_cast<uint64_t>(d - dc);              \
            if constexpr (kMode == Mode::kTier2) {                          \
                if ((translated[s_ >> 6] >> (s_ & 63)) & 1) goto stop_translated; \
            } else {                                                        \
                entries_run[s_] += entries_run[s_] != 255;                  \
            }                                                               \
        }                                                                   \
        const uint64_t head_ =                                              \
            __atomic_load_n(reinterpret_cast<const DecodedHead*>(d), __ATOMIC_ACQUIRE); \
        left -= head_cnt(head_);                                            \
        goto* table[head_handler(head_)];                                   \
    } while (0)
#define ENTER(nd)      \
    do {               \
        d = (nd);      \
        BLOCK();       \
    } while (0)
    // A control transfer outside the decoded text: fault with pc = target.
#define FETCH_FAULT_AT(target)                                    \
    do {                                                          \
        h.pc = (target);                                          \
        h.fault = Fault::Fetch;                                   \
        h.fault_addr = h.pc;                                      \
        result = Stop::Fault;                                     \
        goto out_pc_set;                                          \
    } while (0)
    // Jump to an absolute guest address (already even; so is base): the
    // byte offset into the text times 8 is the offset of its 16-byte slot.
#define JUMP_TO(target)                                           \
    do {                                                          \
        const uint64_t t_ = (target);                             \
        if (__builtin_expect((t_ - base) >= nslots * 2, 0)) FETCH_FAULT_AT(t_); \
        ENTER(reinterpret_cast<const Decoded*>(reinterpret_cast<const char*>(dc) + (t_ - base) * 8)); \
    } while (0)
    // pc-relative jump. The target slot is computed and range-checked as an
    // integer: forming an out-of-range pointer first would be undefined
    // behaviour, and a compiler may then drop the check.
#define JUMP_REL(imm)                                                 \
    do {                                                              \
        const uint64_t slot_ = static_cast<uint64_t>(d - dc) +        \
                               static_cast<uint64_t>(static_cast<int64_t>(imm) >> 1); \
        if (__builtin_expect(slot_ >= nslots, 0))                     \
            FETCH_FAULT_AT(PC + static_cast<int64_t>(imm));           \
        ENTER(dc + slot_);                                            \
    } while (0)
    // Target validated by Text: imm is even, so imm / 2 slots of 16 bytes.
#define JUMP_STATIC()                                                 \
    ENTER(reinterpret_cast<const Decoded*>(reinterpret_cast<const char*>(d) + \
                                           static_cast<int64_t>(d->imm) * 8))
#define FAULT(kind, addr)          \
    do {                           \
        h.fault = (kind);          \
        h.fault_addr = (addr);     \
        goto stop_fault;           \
    } while (0)
// After a write that may have charged pages: once the slice's page quota is
// spent (slice.hpp), end the slice at the next jump. limit and left move
// together, so the instruction count stays exact.
#define SLICE_CHECK()                                                   \
    do {                                                                \
        if (__builtin_expect(m.slice_spent(), 0)) {                     \
            limit -= left;                                              \
            left = 0;                                                   \
        }                                                               \
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
        ENTER(dc + (off >> 1));
    }

    // First execution of a unit of the text: decode it, count the block
    // (BLOCK added the undecoded record's cnt, 0) and run it. Only block
    // entries get here (text.hpp), so both lengths share one handler.
op_UNDECODED_1:
op_UNDECODED_2:
    if (__builtin_expect(!t.decode(static_cast<uint64_t>(d - dc)), 0)) FAULT(Fault::CodeLimit, PC);
    left -= d->cnt;
    DISPATCH();

// Marks a handler compiled code almost never runs (faults, fences, CSRs,
// atomics, jumps whose target Text could not prove inside the text): GCC
// then lays out the common handlers more tightly, so a request's handlers
// span fewer instruction cache lines (it arrives with the caches cold).
#define RARE __attribute__((cold));

    // The first FP instruction of a fork: f becomes the hart's own, and
    // the instruction runs (its count is already added) from the full table.
fp_first_use: RARE
    std::memcpy(f, h.f_source, sizeof h.f);
    h.f_source = nullptr;
    table = labels;
    // The op's own handler: d may be a SEGMENT record, counted already.
    goto* table[handler_of(d->op, d->len())];

#define MTD_CAT2(a, b) a##b
#define MTD_CAT(a, b) MTD_CAT2(a, b)
#define H(name) MTD_CAT(op_##name##_, STEP)
#define STEP 1
#include "interpreter_ops.inc"
#undef STEP
#define STEP 2
#include "interpreter_ops.inc"
#undef STEP
#define STEP 1
#include "interpreter_fp_ops.inc"
#undef STEP
#define STEP 2
#include "interpreter_fp_ops.inc"
#undef STEP

stop_budget:
    // At a block entry, before its count was added (d may not be decoded).
    result = Stop::Budget;
    h.pc = PC;
    goto out_pc_set;
stop_translated: __attribute__((unused));  // kTier2 only
    // The same place, where translated code goes on (interpret_tier2).
    result = Stop::Translated;
    h.pc = PC;
    goto out_pc_set;
stop_memory:
    result = Stop::MemoryLimit;
    goto out;
stop_fault:
    result = Stop::Fault;
out:
    h.pc = PC;
    left += entry_count(d);  // d and the rest of its segment did not retire
out_pc_set:
    h.instret = limit - static_cast<uint64_t>(left);
    h.x[0] = 0;
    {
        const uint32_t guest = _mm_getcsr();
        h.fflags |= mxcsr_to_fflags(guest);
        _mm_setcsr(host_mxcsr);
    }
    return result;
}

}  // namespace

Stop interpret(Hart& h, Memory& m, const Text& t, uint64_t limit) {
    return run<Mode::kPlain>(h, m, t, limit, nullptr, nullptr);
}

Stop interpret_tier2(Hart& h, Memory& m, const Text& t, uint64_t limit, const uint64_t* translated) {
    return run<Mode::kTier2>(h, m, t, limit, translated, nullptr);
}

Stop interpret_profiled(Hart& h, Memory& m, const Text& t, uint64_t limit, uint8_t* entries_run) {
    return run<Mode::kProfile>(h, m, t, limit, nullptr, entries_run);
}

}  // namespace mtd::sandbox::detail
