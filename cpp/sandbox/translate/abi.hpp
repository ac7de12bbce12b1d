// The contract between mtd and the code it translates guest code into.
// The emitter (emitter.cpp) writes C++ that includes runtime.hpp and
// defines the symbols below; the host compiles it into a shared object and
// loads it (translation.cpp), refusing any built for another kAbiVersion.
// Plain data only: both sides are compiled from this one header.
#pragma once
#include <cstdint>

#include "../tlb.hpp"

namespace mtd::sandbox::translate {

// Changes whenever this header, runtime.hpp or the emitter's output changes
// meaning: translations are cached under it.
inline constexpr uint32_t kAbiVersion = 6;

// How translated code returned; Ctx says where (pc) and the rest.
enum Exit : int {
    kExitJump = 0,    // to pc, which has no translation: the interpreter goes on
    kExitEcall = 1,   // at the ecall at pc (not retired)
    kExitFault = 2,   // Ctx::fault at pc
    kExitBudget = 3,  // at the block entry pc, nothing of it counted
    kExitMemory = 4,  // a store or builtin hit the memory limit, at pc
    kExitEntry = 5,   // to entry next_entry, in another region: the host calls it
};

// detail::Fault's values, which translated code reports (translation.cpp
// checks they agree).
enum FaultCode : uint8_t { kFaultLoad = 1, kFaultStore = 2, kFaultFetch = 3, kFaultIllegal = 4,
                           kFaultBreakpoint = 5, kFaultMisaligned = 6 };

// The host's slow paths: every access the translation caches miss goes
// through the same checked Memory calls the interpreter uses.
struct Host {
    bool (*load)(void* mem, uint64_t a, void* out, unsigned n);
    bool (*store)(void* mem, uint64_t a, const void* in, unsigned n);
    uint8_t* (*write_ptr)(void* mem, uint64_t a, unsigned n);  // atomics; marks the bytes written
    bool (*oom)(const void* mem);
    bool (*slice_spent)(const void* mem);
    // natives.hpp: run_native on the hart (a0..a2 in, a0 out); NativeStop.
    int (*native)(void* hart, void* mem, unsigned id, uint64_t budget, uint64_t* charged);
};

// One call into translated code. left and limit are the interpreter's
// budget pair (instret = limit - left), in and out.
struct Ctx {
    uint64_t* x;             // the hart's x[0..32]
    uint64_t* f;             // its f[0..31] (the hart's own)
    uint32_t* fflags;
    uint32_t* frm;
    uint64_t* reservation;
    void* hart;
    void* mem;
    const Host* host;
    detail::ReadSlot* rtlb;  // translated code fills it as Memory would (tlb.hpp: read_walk)
    const detail::WriteSlot* wtlb;
    uint64_t gen;            // the request a write slot's gen must equal
    const uintptr_t* top;    // the page table's top level, for read_walk
    int64_t left;
    uint64_t limit;
    uint64_t pc;             // out
    uint64_t fault_addr;     // out, kExitFault
    uint32_t next_entry;     // out, kExitEntry
    uint8_t fault;           // out, kExitFault: a FaultCode
};

// The code comes in regions, each a function of a few hundred guest
// instructions (one big function would take the host compiler minutes).
// The symbols a translation defines, with C linkage:
//   uint32_t mtd_t2_abi;                    kAbiVersion
//   uint64_t mtd_t2_base, mtd_t2_nslots;     the text it was made from
//   uint32_t mtd_t2_entry_count;
//   const uint32_t mtd_t2_entry_slots[];     ascending: an entry is its index
//   const uint32_t mtd_t2_entry_region[];    the region holding each entry
//   uint32_t mtd_t2_region_count;
//   const RegionFn mtd_t2_regions[];         region r runs from one of its entries
//   uint32_t mtd_t2_uses_fp;                 reads or writes f registers
using RegionFn = int (*)(Ctx*, uint32_t entry);

}  // namespace mtd::sandbox::translate
