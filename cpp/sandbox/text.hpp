// The decoder cache of one Program: one Decoded record per 2-byte slot of
// the executable range, shared by every fork, decoded lazily.
//
// Most of a tenant's text (static glibc, libstdc++) never runs, so records
// are decoded on first execution, a unit (kUnitSlots slots = one 4 KiB host
// page of records) at a time. The records live in one anonymous mapping
// reserved up front: memory never written reads as zeros, which is the
// record of OP_UNDECODED, and costs no RSS. The interpreter is unchanged
// otherwise: slot i is still at slots()[i], so sequential flow stays
// `d += STEP` and pc stays derived from d.
//
// Publication (several worker threads run forks of one Program at once):
//  - decode() fills units under a per-Text mutex, writing each record's
//    operands first and its head (handler + cnt, one 8-byte word) last, with
//    a release store;
//  - the interpreter reads the head with one acquire load at every block
//    entry (ENTER), so it sees either the whole record or handler 0 with cnt
//    0; OP_UNDECODED's handler calls decode() and re-dispatches;
//  - records are published back to front, and a unit whose last basic block
//    runs on into the next unit is published only after that next unit. So a
//    published record's sequential successors in its block are published
//    before it, and mid-block dispatch (NEXT) never meets OP_UNDECODED: only
//    block entries do, which is where the count is added.
//
// Bytes decoded come from the executable pages the loader recorded (the
// master's host pages: its arena's, or the ELF file copy's). The guest can never write, remap or unmap
// the executable range (syscalls.cpp: touches_text), so decoding later gives
// the records decoding at load time would have given.
#pragma once
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "decoder.hpp"

namespace mtd::sandbox::detail {

class Text {
public:
    static constexpr uint64_t kUnitSlots = 256;
    // Host memory a program's records may take: 16 bytes per 2-byte slot,
    // so a unit is 4 KiB of records for 512 bytes of code. The tenant
    // chooses its text, so both its size (elf_loader.cpp refuses more) and
    // what it decodes are capped; past the cap, decoding a new unit fails
    // and the run faults (Fault::CodeLimit).
    static constexpr uint64_t kMaxTextBytes = 16ull << 20;
    static constexpr uint64_t kMaxDecodedUnits = (32ull << 20) / (kUnitSlots * 16);

    Text() = default;
    ~Text();
    Text(const Text&) = delete;
    Text& operator=(const Text&) = delete;

    // Covers [base, base + pages.size() pages): pages[i] is the host copy of
    // guest page i of that range if it is executable, else nullptr (fetching
    // there faults). The pages must outlive this Text and never change.
    // The entry of each function in `natives` decodes to OP_NATIVE (natives.hpp).
    // False if the host cannot reserve the address space.
    bool init(uint64_t base, std::vector<const uint8_t*> pages,
              std::vector<std::pair<uint64_t, Native>> natives = {});

    uint64_t base = 0;    // guest address of slot 0
    uint64_t nslots = 0;  // executable 2-byte slots; two FETCH_FAULT sentinels follow
    const Decoded* slots() const { return slots_; }

    // OP_UNDECODED's slow path: decodes the unit holding `slot` (and the
    // units its last basic block runs into). Thread-safe. False if that
    // would pass kMaxDecodedUnits: nothing was decoded.
    bool decode(uint64_t slot) const;
    // Decodes everything, as an eager cache would (tests compare the two).
    void decode_all() const;
    // Returns every record's memory to the kernel; they decode again when
    // next executed. Only while no other thread can execute this text.
    void forget();
    // Units currently decoded, out of code_units() (tests and diagnostics).
    uint64_t decoded_units() const;
    uint64_t code_units() const { return (nslots + kUnitSlots - 1) / kUnitSlots; }

private:
    uint64_t units() const { return (nslots + 2 + kUnitSlots - 1) / kUnitSlots; }
    bool unit_done(uint64_t u) const;
    bool runs_on(uint64_t u) const;
    void fill(uint64_t u) const;
    Decoded decode_slot(uint64_t i) const;
    void put_sentinels() const;

    Decoded* slots_ = nullptr;
    uint64_t map_bytes_ = 0;
    std::vector<const uint8_t*> pages_;
    std::vector<std::pair<uint64_t, Native>> natives_;  // (slot, builtin), sorted by slot
    mutable std::mutex mu_;
    mutable uint64_t decoded_ = 0;  // units filled since init or forget(), under mu_
};

}  // namespace mtd::sandbox::detail
