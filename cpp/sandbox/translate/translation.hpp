// A loaded translation: the shared object the emitter's code was compiled
// into (abi.hpp), checked against the program it claims to translate, and
// the tables the host needs to enter it: a bit per text slot that has an
// entry (what interpret_tier2 stops at) and, per entry, its index.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../hart.hpp"
#include "abi.hpp"

namespace mtd::sandbox::translate {

class Translation {
public:
    // Loads `path` for text t. Throws std::runtime_error, saying why, if it
    // cannot be loaded or was not made for this ABI version and text.
    static std::unique_ptr<Translation> load(const std::string& path, const detail::Text& t);
    ~Translation();
    Translation(const Translation&) = delete;
    Translation& operator=(const Translation&) = delete;

    // The entry index of slot, or false if translated code cannot start there.
    bool entry(uint64_t slot, uint32_t& index) const {
        for (uint64_t i = hash(slot);; i = (i + 1) & mask_) {
            if (table_[i].slot == slot) {
                index = table_[i].index;
                return true;
            }
            if (table_[i].slot == kEmpty) return false;
        }
    }
    bool entry_at(uint64_t pc, uint64_t base, uint64_t nslots, uint32_t& index) const {
        const uint64_t off = pc - base;
        return off < nslots * 2 && !(off & 1) && entry(off / 2, index);
    }
    const uint64_t* entry_bits() const { return bits_.data(); }
    // Runs translated code from entry `index`, across regions and through
    // jumps to code it has (returns, calls through pointers), until it
    // needs the host or the interpreter.
    int run(Ctx& c, uint32_t index, uint64_t base, uint64_t nslots) const {
        for (;;) {
            const int exit = regions_[entry_region_[index]](&c, index);
            if (exit == kExitEntry)
                index = c.next_entry;
            else if (exit != kExitJump || !entry_at(c.pc, base, nslots, index))
                return exit;
        }
    }
    bool uses_fp() const { return uses_fp_; }
    uint64_t entries() const { return slots_.size(); }

private:
    Translation() = default;
    uint64_t hash(uint64_t slot) const { return (slot * 0x9E3779B97F4A7C15ull) >> shift_; }

    // Open addressing over entry slots, at most half full.
    static constexpr uint32_t kEmpty = ~0u;
    struct Bucket {
        uint32_t slot = kEmpty;
        uint32_t index = 0;
    };
    std::vector<Bucket> table_;
    uint64_t mask_ = 0;
    unsigned shift_ = 64;
    void* handle_ = nullptr;
    bool uses_fp_ = false;
    std::vector<uint32_t> slots_;         // ascending: entry index = position
    std::vector<uint32_t> entry_region_;  // per entry
    std::vector<RegionFn> regions_;
    std::vector<uint64_t> bits_;
};

// Runs the hart like interpret() does, in translated code wherever it has
// an entry and in the interpreter elsewhere: the same stops, at the same
// instructions, with the same counts. `translated_instructions` adds what
// retired in translated code.
detail::Stop run_translated(detail::Hart& h, detail::Memory& m, const detail::Text& t, const Translation& tr,
                            uint64_t limit, uint64_t& translated_instructions);

}  // namespace mtd::sandbox::translate
