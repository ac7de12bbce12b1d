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
    bool entry(uint64_t slot, uint32_t& index) const;
    const uint64_t* entry_bits() const { return bits_.data(); }
    // Runs translated code from entry `index`, across regions, until it
    // needs the host: an exit other than kExitEntry.
    int run(Ctx& c, uint32_t index) const {
        int exit;
        while ((exit = regions_[entry_region_[index]](&c, index)) == kExitEntry) index = c.next_entry;
        return exit;
    }
    bool uses_fp() const { return uses_fp_; }
    uint64_t entries() const { return slots_.size(); }

private:
    Translation() = default;
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
