#include "elf_loader.hpp"

#include <elf.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>

namespace mtd::sandbox::detail {
namespace {

#ifndef EM_RISCV
#define EM_RISCV 243
#endif

constexpr uint64_t AT_HWCAP_RV64GC =
    (1u << ('I' - 'A')) | (1u << ('M' - 'A')) | (1u << ('A' - 'A')) | (1u << ('F' - 'A')) |
    (1u << ('D' - 'A')) | (1u << ('C' - 'A'));

std::string hex(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

// A size in MiB, rounded up: a refusal never reads "64 MiB; at most 64 MiB".
std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20); }

}  // namespace

std::string load_elf(std::span<const uint8_t> elf, Core& core, Text& text,
                     const std::vector<std::string>& argv, bool share_pages, const uint8_t* at_random) {
    Memory& mem = core.mem;
    if (elf.size() < sizeof(Elf64_Ehdr)) return "not an ELF file (too short)";
    if (elf.size() > kMaxElfBytes)
        return "ELF file is " + mib(elf.size()) + " MiB; at most " + mib(kMaxElfBytes) + " MiB";
    Elf64_Ehdr eh;
    std::memcpy(&eh, elf.data(), sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return "not a 64-bit little-endian ELF";
    if (eh.e_machine != EM_RISCV) return "not a RISC-V ELF (e_machine " + std::to_string(eh.e_machine) + ")";
    if (eh.e_type != ET_EXEC)
        return eh.e_type == ET_DYN ? "position-independent/dynamic ELF; build with -static (no -static-pie)"
                                   : "not an executable ELF";
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64)
        return "bad program header table";
    if (eh.e_phoff > elf.size() || uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr) > elf.size() - eh.e_phoff)
        return "program headers outside the file";
    // Soft-float or RV32E objects use a different calling convention.
    if ((eh.e_flags & 0x6) != 0x4) return "ELF is not built for the lp64d ABI (double-float)";

    std::vector<Elf64_Phdr> ph(eh.e_phnum);
    std::memcpy(ph.data(), elf.data() + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));

    // Whether the guest page at a (in segment p) can be the file's own page:
    // entirely file bytes of p and of no other segment, at a page-aligned
    // file offset. Other pages are copied, zero-filled around the segment.
    auto covers = [](const Elf64_Phdr& q, uint64_t a) {
        if (q.p_type != PT_LOAD || q.p_memsz == 0 || page_down(q.p_vaddr) >= a + kPageSize) return false;
        return q.p_vaddr >= a || q.p_memsz > a - q.p_vaddr;
    };
    auto file_page = [&](const Elf64_Phdr& p, uint64_t a) -> const uint8_t* {
        if (!share_pages || ((p.p_offset - p.p_vaddr) & kPageMask) || a < p.p_vaddr ||
            a + kPageSize > p.p_vaddr + p.p_filesz)
            return nullptr;
        for (const auto& q : ph)
            if (&q != &p && covers(q, a)) return nullptr;
        return elf.data() + p.p_offset + (a - p.p_vaddr);
    };

    uint64_t exec_lo = ~0ull, exec_hi = 0, end = 0, phdr_addr = 0;
    std::vector<const Elf64_Phdr*> executable;  // the executable segments loaded below
    for (const auto& p : ph) {
        if (p.p_type == PT_INTERP || p.p_type == PT_DYNAMIC) return "dynamically linked ELF; build with -static";
        if (p.p_type == PT_PHDR) phdr_addr = p.p_vaddr;
        if (p.p_type != PT_LOAD || p.p_memsz == 0) continue;
        if (p.p_filesz > p.p_memsz || p.p_offset > elf.size() || p.p_filesz > elf.size() - p.p_offset)
            return "PT_LOAD segment outside the file";
        if (p.p_vaddr < kPageSize || p.p_vaddr > kBrkLimit / 2 || p.p_memsz > kBrkLimit / 2 - p.p_vaddr)
            return "PT_LOAD segment at " + hex(p.p_vaddr) + " outside the guest address space";
        const uintptr_t prot = ((p.p_flags & PF_R) ? kPteR : 0) | ((p.p_flags & PF_W) ? kPteW : 0) |
                               ((p.p_flags & PF_X) ? kPteX : 0);
        for (uint64_t a = page_down(p.p_vaddr); a < p.p_vaddr + p.p_memsz; a += kPageSize) {
            if (const uint8_t* page = file_page(p, a)) {
                if (!mem.map_shared(a, page, prot)) return "ELF does not fit in the init memory limit";
            } else if (!mem.populate(a, prot)) {
                return "ELF does not fit in the init memory limit";
            }
        }
        for (uint64_t a = p.p_vaddr; a < p.p_vaddr + p.p_filesz;) {  // the copied pages' bytes
            const uint64_t next = std::min(page_down(a) + kPageSize, p.p_vaddr + p.p_filesz);
            if (!file_page(p, page_down(a)) &&
                !mem.write_bytes_loader(a, elf.data() + p.p_offset + (a - p.p_vaddr), next - a))
                return "cannot write segment";
            a = next;
        }
        if (p.p_flags & PF_X) {
            executable.push_back(&p);
            exec_lo = std::min(exec_lo, p.p_vaddr);
            exec_hi = std::max(exec_hi, p.p_vaddr + p.p_memsz);
        }
        end = std::max(end, p.p_vaddr + p.p_memsz);
        if (!phdr_addr && eh.e_phoff >= p.p_offset && eh.e_phoff < p.p_offset + p.p_filesz)
            phdr_addr = p.p_vaddr + (eh.e_phoff - p.p_offset);
    }
    if (exec_hi == 0) return "ELF has no executable segment";
    if (page_up(exec_hi) - page_down(exec_lo) > Text::kMaxTextBytes)
        return "executable segments span " + mib(page_up(exec_hi) - page_down(exec_lo)) + " MiB; at most " +
               mib(Text::kMaxTextBytes) + " MiB of code";
    if (eh.e_entry < exec_lo || eh.e_entry >= exec_hi) return "entry point outside the executable segment";

    // Decoder cache over the executable range, decoding from the loaded
    // pages (the master's, kept for the Program's life; the guest can never
    // change the range, see touches_text). An executable page without read
    // permission decodes as zeros, as it always has.
    exec_lo = page_down(exec_lo);
    exec_hi = page_up(exec_hi);
    std::vector<const uint8_t*> pages((exec_hi - exec_lo) / kPageSize, nullptr);
    for (const Elf64_Phdr* p : executable)
        for (uint64_t a = page_down(p->p_vaddr); a < p->p_vaddr + p->p_memsz; a += kPageSize) {
            const uint8_t* host = mem.read_ptr(a);
            pages[(a - exec_lo) / kPageSize] = host ? host : g_zero_page;
        }
    if (!text.init(exec_lo, std::move(pages), find_natives(elf, exec_lo, exec_hi))) return "no host memory for the decoder cache";
    core.text = &text;
    mem.layout.exec_lo = exec_lo;
    mem.layout.exec_hi = exec_hi;
    mem.layout.brk_start = mem.layout.brk = page_up(end);

    // The stack: reserved up front, backed by the zero page until touched.
    const uint64_t stack_lo = kStackTop - kStackSize;
    if (!mem.map_anon(stack_lo, kStackSize, kPteR | kPteW)) return "no memory for the stack";

    uint64_t sp = kStackTop;
    std::vector<uint64_t> argv_addr;
    const std::vector<std::string> default_argv{"app"};
    const auto& args = argv.empty() ? default_argv : argv;
    uint64_t strings = 0;
    for (const auto& s : args) strings += s.size() + 1;
    if (strings > 256 * 1024) return "argv too large";
    for (const auto& s : args) {
        sp -= s.size() + 1;
        if (!mem.write_bytes(sp, s.c_str(), s.size() + 1)) return "cannot write the stack";
        argv_addr.push_back(sp);
    }
    const char platform[] = "riscv64";
    sp -= sizeof platform;
    const uint64_t platform_addr = sp;
    mem.write_bytes(sp, platform, sizeof platform);
    // AT_RANDOM seeds the guest's stack canary and pointer guard: fresh per
    // load (every request of a load forks the same snapshot, so shares it).
    uint8_t random[16] = {};
    if (at_random)
        std::memcpy(random, at_random, sizeof random);
    else if (!kFrozenHost && getrandom(random, sizeof random, 0) != sizeof random)
        return "no entropy for AT_RANDOM";
    sp -= 16;
    const uint64_t random_addr = sp;
    mem.write_bytes(sp, random, 16);
    sp &= ~15ull;

    const uint64_t auxv[][2] = {
        {AT_PHDR, phdr_addr}, {AT_PHENT, sizeof(Elf64_Phdr)}, {AT_PHNUM, eh.e_phnum},
        {AT_PAGESZ, kPageSize}, {AT_BASE, 0}, {AT_FLAGS, 0}, {AT_ENTRY, eh.e_entry},
        {AT_UID, 1000}, {AT_EUID, 1000}, {AT_GID, 1000}, {AT_EGID, 1000},
        {AT_HWCAP, AT_HWCAP_RV64GC}, {AT_CLKTCK, 100}, {AT_SECURE, 0},
        {AT_RANDOM, random_addr}, {AT_PLATFORM, platform_addr}, {AT_EXECFN, argv_addr[0]},
        {AT_NULL, 0},
    };
    std::vector<uint64_t> words;
    words.push_back(args.size());
    for (uint64_t a : argv_addr) words.push_back(a);
    words.push_back(0);  // argv terminator
    words.push_back(0);  // empty envp
    for (const auto& av : auxv) {
        words.push_back(av[0]);
        words.push_back(av[1]);
    }
    sp -= words.size() * 8;
    sp &= ~15ull;
    if (!mem.write_bytes(sp, words.data(), words.size() * 8)) return "cannot write the stack";

    core.hart = Hart{};
    core.hart.pc = eh.e_entry;
    core.hart.x[2] = sp;
    return {};
}

}  // namespace mtd::sandbox::detail
