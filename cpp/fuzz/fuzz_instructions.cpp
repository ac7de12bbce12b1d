// libFuzzer target: the fuzzer's bytes become the text of a minimal valid
// static RV64 ELF (one R|X PT_LOAD at 0x10000 holding the code, one RW
// PT_LOAD of zeroed data at 0x20000, entry at the first code byte), run with
// run_to_exit under a small budget, so the fuzzer explores random
// instruction streams (decoder, interpreter, Linux syscall subset) instead
// of ELF parsing. Differential checking against qemu-riscv64 is not done here.
#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "sandbox/run_to_exit.hpp"

using namespace mtd::sandbox;

namespace {

constexpr uint64_t kCodeAddr = 0x10000;
constexpr uint64_t kDataAddr = 0x200000;
constexpr uint64_t kCodeOffset = 0x1000;
constexpr uint64_t kDataSize = 0x2000;

void build_elf(const uint8_t* code, size_t size, std::vector<uint8_t>& out) {
    out.assign(kCodeOffset + size, 0);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_RISCV;
    eh.e_version = EV_CURRENT;
    eh.e_entry = kCodeAddr;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_flags = 0x5;  // EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    Elf64_Phdr ph[2]{};
    ph[0].p_type = PT_LOAD;
    ph[0].p_flags = PF_R | PF_X;
    ph[0].p_offset = kCodeOffset;
    ph[0].p_vaddr = ph[0].p_paddr = kCodeAddr;
    ph[0].p_filesz = ph[0].p_memsz = size;
    ph[0].p_align = 0x1000;
    ph[1].p_type = PT_LOAD;
    ph[1].p_flags = PF_R | PF_W;
    ph[1].p_offset = kCodeOffset;  // no file bytes: zero-filled data
    ph[1].p_vaddr = ph[1].p_paddr = kDataAddr;
    ph[1].p_filesz = 0;
    ph[1].p_memsz = kDataSize;
    ph[1].p_align = 0x1000;
    std::memcpy(out.data(), &eh, sizeof eh);
    std::memcpy(out.data() + eh.e_phoff, ph, sizeof ph);
    std::memcpy(out.data() + kCodeOffset, code, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;  // no executable bytes: not a valid ELF of this shape
    static std::vector<uint8_t> elf;
    static const std::vector<std::string> argv{"fuzz"};
    build_elf(data, size, elf);
    ExitResult r = run_to_exit(elf, argv, "stdin", 100'000, 16ull << 20);
    // The ELF is always well formed, so a load error is a harness bug.
    if (r.reason.rfind("load:", 0) == 0) __builtin_trap();
    if (r.outcome == Outcome::Responded || r.outcome == Outcome::Ready) __builtin_trap();
    if (r.instructions > 100'000 + 64) __builtin_trap();
    return 0;
}
