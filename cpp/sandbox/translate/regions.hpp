// How the translated code is cut into regions (emitter.cpp writes each as
// one host function). Control moves between regions through the host and
// costs the guest registers' loads and stores, so regions follow calls:
// code that calls or jumps to other code is put with it while the region
// stays small enough for the host compiler.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../decoder.hpp"

namespace mtd::sandbox::translate {

// Instructions per region: big enough that most calls stay inside one,
// small enough that the host compiler stays fast (its time grows faster
// than a function's size).
inline constexpr size_t kRegionInstructions = 800;

// Calls `f(target_slot, is_call)` for each static target of the
// instruction at position k: a branch's two (its fall-through, then where
// it jumps), a jal's one (a call if it links). Slots, unchecked.
template <class F>
void each_target(const std::vector<uint64_t>& slots, const std::vector<detail::Decoded>& recs, size_t k, F&& f) {
    const detail::Decoded& d = recs[k];
    switch (d.op) {
        case detail::OP_BEQ: case detail::OP_BNE: case detail::OP_BLT: case detail::OP_BGE:
        case detail::OP_BLTU: case detail::OP_BGEU:
            f(slots[k] + d.len(), false);
            [[fallthrough]];
        case detail::OP_JAL:
            if ((d.imm & 1) == 0)
                f(slots[k] + static_cast<uint64_t>(static_cast<int64_t>(d.imm) >> 1),
                  d.op == detail::OP_JAL && d.rd != 0 && d.rd != detail::kSinkReg);
            break;
        default: break;
    }
}

struct Regions {
    // Per region, the positions in `slots` it holds, ascending: its own,
    // and copies of small functions it calls.
    std::vector<std::vector<size_t>> members;
    // Per position in `slots`, the region that owns it: where the host
    // enters it from outside.
    std::vector<uint32_t> of;
};

// slots: the emitted slots, ascending; recs: their records. A region is
// never cut inside a block (where no count or check happens): never between
// an instruction that does not end its block and the one it runs on into.
Regions form_regions(const std::vector<uint64_t>& slots, const std::vector<detail::Decoded>& recs, uint64_t nslots);

}  // namespace mtd::sandbox::translate
