#include "text.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "layout.hpp"

namespace mtd::sandbox::detail {
namespace {

// Writes a record so that a concurrent reader of its head sees either the
// old (zero) head or the whole new record.
void publish(Decoded* slot, const Decoded& rec) {
    std::memcpy(reinterpret_cast<char*>(slot) + 8, reinterpret_cast<const char*>(&rec) + 8, 8);
    uint64_t head;
    std::memcpy(&head, &rec, 8);
    __atomic_store_n(reinterpret_cast<DecodedHead*>(slot), head, __ATOMIC_RELEASE);
}

// Direct jumps and branches whose target is a slot of the text get the
// handler that skips the runtime range check.
void mark_static_jump(Decoded& d, uint64_t i, uint64_t nslots) {
    Op checked_form;
    switch (d.op) {
        case OP_JAL: checked_form = OP_JAL_IN; break;
        case OP_BEQ: checked_form = OP_BEQ_IN; break;
        case OP_BNE: checked_form = OP_BNE_IN; break;
        case OP_BLT: checked_form = OP_BLT_IN; break;
        case OP_BGE: checked_form = OP_BGE_IN; break;
        case OP_BLTU: checked_form = OP_BLTU_IN; break;
        case OP_BGEU: checked_form = OP_BGEU_IN; break;
        default: return;
    }
    const int64_t target = static_cast<int64_t>(i) + (d.imm >> 1);
    if ((d.imm & 1) == 0 && target >= 0 && static_cast<uint64_t>(target) < nslots)
        d.handler = handler_of(checked_form, d.len());
}

// Makes d the head of a run of sp-relative sd (or ld) if the instruction
// after it in its block, `next`, is one too (decoder.hpp: kMaxRun). next is
// final already, and may head a run itself (rs3 != 0): then d's run is d
// plus that one.
bool run_imm(int32_t imm) { return imm >= 0 && imm <= 8 * 255 && imm % 8 == 0; }
uint8_t& run_hi(Decoded& d) { return d.op == OP_SD ? d.rd : d.rs2; }
unsigned run_hi(const Decoded& d) { return d.op == OP_SD ? d.rd : d.rs2; }
void mark_sp_run(Decoded& d, const Decoded& next) {
    if ((d.op != OP_SD && d.op != OP_LD) || d.rs1 != 2 || !run_imm(d.imm)) return;
    if (is_segment_head(next)) return;  // its count is added when it runs
    if (d.op == OP_LD && d.rd == 2) return;  // would move the base of the rest
    if (next.op != d.op || next.rs1 != 2 || next.len() != d.len() || !run_imm(next.imm)) return;
    const Op run = d.op == OP_SD ? OP_SD_SP_RUN : OP_LD_SP_RUN;
    unsigned lo = next.imm / 8, hi = lo, count = 2;
    if (next.rs3 != 0 && next.rs3 < kMaxRun) {
        lo = next.rm;
        hi = run_hi(next);
        count = 1u + next.rs3;
    }
    const unsigned own = static_cast<unsigned>(d.imm) / 8;
    d.rs3 = static_cast<uint8_t>(count);
    d.rm = static_cast<uint8_t>(std::min(lo, own));
    run_hi(d) = static_cast<uint8_t>(std::max(hi, own));
    // Stores need write_ptr, a call: it pays for itself from three on. The
    // fields are still filled, so the sd before this one can extend it.
    if (d.op == OP_SD && count < 3) return;
    d.handler = handler_of(run, d.len());
}

// auipc computes a constant: its slot's address plus imm. When that fits
// the record's imm it becomes li, which need not derive the pc.
void fold_auipc(Decoded& d, uint64_t pc) {
    if (d.op != OP_AUIPC) return;
    const int64_t v = static_cast<int64_t>(pc) + d.imm;
    if (v != static_cast<int32_t>(v)) return;
    const unsigned len = d.len();
    d.op = OP_LI;
    d.imm = static_cast<int32_t>(v);
    d.set_len(len);
}

// Register moves come in pairs often (argument shuffles around calls).
void mark_mv_pair(Decoded& d, const Decoded& next) {
    if (d.op == OP_MV && next.op == OP_MV && next.len() == d.len() && !is_segment_head(next))
        d.handler = handler_of(OP_MV_PAIR, d.len());
}

}  // namespace

Text::~Text() {
    if (slots_) munmap(slots_, map_bytes_);
}

bool Text::init(uint64_t b, std::vector<const uint8_t*> pages,
                std::vector<std::pair<uint64_t, Native>> natives) {
    base = b;
    nslots = pages.size() * kPageSize / 2;
    pages_ = std::move(pages);
    for (const auto& [addr, id] : natives)
        if (addr >= base && !(addr & 1) && (addr - base) / 2 < nslots) natives_.emplace_back((addr - base) / 2, id);
    std::sort(natives_.begin(), natives_.end());
    map_bytes_ = units() * kUnitSlots * sizeof(Decoded);
    // NORESERVE: only units that ever run are backed by memory.
    void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    slots_ = static_cast<Decoded*>(m);
    put_sentinels();
    return true;
}

void Text::put_sentinels() const {
    // Running off the end of the text lands here (two: a 4-byte
    // instruction in the last slot steps two slots).
    Decoded end = fetch_fault();
    end.cnt = 1;
    publish(&slots_[nslots], end);
    publish(&slots_[nslots + 1], end);
}

Decoded Text::decode_slot(uint64_t i) const {
    const uint64_t off = i * 2;
    const uint8_t* page = pages_[off >> kPageBits];
    if (!page) return fetch_fault();
    const auto native = std::lower_bound(natives_.begin(), natives_.end(), std::make_pair(i, Native{}));
    if (native != natives_.end() && native->first == i) return native_call(native->second);
    // A 32-bit instruction may not straddle into a non-executable page.
    const uint64_t in_page = off & kPageMask;
    uint32_t word = 0;
    std::memcpy(&word, page + in_page, 2);
    unsigned avail = 2;
    if (in_page + 2 < kPageSize) {
        std::memcpy(&word, page + in_page, 4);
        avail = 4;
    } else if (off + 2 < nslots * 2 && pages_[(off + 2) >> kPageBits]) {
        uint16_t hi;
        std::memcpy(&hi, pages_[(off + 2) >> kPageBits], 2);
        word |= static_cast<uint32_t>(hi) << 16;
        avail = 4;
    }
    return detail::decode(word, avail);
}

// A unit is published back to front, so its first record is written last.
bool Text::unit_done(uint64_t u) const {
    return __atomic_load_n(&slots_[u * kUnitSlots].handler, __ATOMIC_ACQUIRE) != 0;
}

// Whether the last basic block of unit u continues into unit u + 1: only
// the last two slots can fall through past the unit's end.
bool Text::runs_on(uint64_t u) const {
    const uint64_t end = (u + 1) * kUnitSlots;
    if (end >= nslots) return false;  // into the sentinels, always present
    for (uint64_t j = end - 2; j < end; ++j) {
        const Decoded d = decode_slot(j);
        if (!ends_block(d) && j + d.len() >= end) return true;
    }
    return false;
}

// Decodes unit u's code slots. Records after the unit that a block falls
// through to are already published (decode() orders the work so).
void Text::fill(uint64_t u) const {
    const uint64_t lo = u * kUnitSlots;
    const uint64_t hi = std::min((u + 1) * kUnitSlots, nslots);
    for (uint64_t j = hi; j-- > lo;) {
        Decoded d = decode_slot(j);
        mark_static_jump(d, j, nslots);
        fold_auipc(d, base + 2 * j);
        // slots_[next] is published: later in this unit, in a later unit of
        // this run, or decoded before (we hold the mutex every writer holds).
        if (ends_block(d)) {
            d.cnt = 1;
        } else {
            const Decoded& next = slots_[j + d.len()];
            d.cnt = 1 + next.cnt;  // next.cnt < kMaxSegment, 0 if next heads a segment
            mark_sp_run(d, next);
            mark_mv_pair(d, next);
            if (d.cnt == kMaxSegment) {
                // Long straight-line code: d heads a segment of its own
                // (decoder.hpp), which it checks and counts when it runs.
                d.cnt = 0;
                d.handler = handler_of(OP_SEGMENT, d.len());
            }
        }
        publish(&slots_[j], d);
    }
}

bool Text::decode(uint64_t slot) const {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t u = slot / kUnitSlots;
    if (slot >= nslots || unit_done(u)) return true;  // another thread was first
    // The run of units that u's trailing block falls through, each into the
    // next, up to one that is decoded or ends its last block itself.
    uint64_t last = u;
    while (runs_on(last) && !unit_done(last + 1)) ++last;
    if (decoded_ + (last + 1 - u) > kMaxDecodedUnits) return false;
    decoded_ += last + 1 - u;
    for (uint64_t v = last + 1; v-- > u;) fill(v);
    return true;
}

void Text::decode_all() const {
    for (uint64_t u = units(); u-- > 0;) decode(u * kUnitSlots);
}

void Text::forget() {
    std::lock_guard<std::mutex> lock(mu_);
    madvise(slots_, map_bytes_, MADV_DONTNEED);  // private anonymous: reads as zeros again
    put_sentinels();
    decoded_ = 0;
}

uint64_t Text::decoded_units() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (uint64_t u = 0; u < units(); ++u)
        if (u * kUnitSlots < nslots && unit_done(u)) ++n;
    return n;
}

}  // namespace mtd::sandbox::detail
