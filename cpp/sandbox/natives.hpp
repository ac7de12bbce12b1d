// Native builtins: the guest's memcpy, memmove, memset, strlen, memcmp and
// strcmp run as host code. A hello-world request spends half of its guest
// instructions in them, and their semantics are fixed by the C standard, so
// the decoder replaces the first instruction of each (found by name in the
// ELF's symbol table) with an OP_NATIVE that does the whole call and returns
// to ra. Every byte still goes through Memory's checked accessors: a bad
// pointer faults exactly where the guest's own loop would have.
//
// Budget: a builtin is charged 1 instruction plus 1 per 8 bytes it touches,
// and never starts work the remaining budget cannot pay for.
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace mtd::sandbox::detail {

struct Hart;
class Memory;

enum class Native : uint8_t { Memcpy, Memmove, Memset, Strlen, Memcmp, Strcmp };

// (entry address, builtin) for each builtin defined as a function in `elf`'s
// symbol table inside [exec_lo, exec_hi). Missing symbols (a stripped ELF)
// just mean no builtin: the guest's own code runs.
std::vector<std::pair<uint64_t, Native>> find_natives(std::span<const uint8_t> elf, uint64_t exec_lo,
                                                      uint64_t exec_hi);

enum class NativeStop : uint8_t { Done, Fault, Budget, MemoryLimit };

// Runs builtin `id` with the RISC-V calling convention (arguments a0..a2,
// result in a0). At most `budget` instructions may be charged; `charged`
// receives what was. On Fault, h.fault and h.fault_addr are set.
NativeStop run_native(Native id, Hart& h, Memory& m, uint64_t budget, uint64_t& charged);

}  // namespace mtd::sandbox::detail
