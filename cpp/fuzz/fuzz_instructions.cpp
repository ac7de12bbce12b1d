// libFuzzer target: the fuzzer's bytes become the text of a minimal valid
// static RV64 ELF (one R|X PT_LOAD at 0x10000 holding the code, one RW
// PT_LOAD of zeroed data at 0x200000, entry at the first code byte), run with
// run_to_exit under a small budget, so the fuzzer explores random
// instruction streams (decoder, interpreter, Linux syscall subset) instead
// of ELF parsing: raw bytes, or (odd first byte) a shaped program of legal
// instructions repeated into long blocks and loops (shaped_program).
// Invariants, each a crash when broken:
//  - a well-formed ELF always loads, and a plain run never "responds";
//  - the budget holds to kMaxSegment - 1 instructions, whatever the code's
//    shape (long blocks, branches not taken, system calls' work);
//  - nothing of the host reaches the guest: each input runs twice, the
//    second time over a host stack filled with another pattern, and
//    everything the guest can leave behind (registers, output, exit,
//    count) must match. The fuzz build freezes host clocks and entropy
//    (layout.hpp: kFrozenHost) so that runs can match byte for byte.
// Host memory is bounded by ./mtd fuzz's -rss_limit_mb; leaks by LSan.
// Differential checking against qemu-riscv64 is not done here.
#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "sandbox/decoder.hpp"
#include "sandbox/run_to_exit.hpp"

using namespace mtd::sandbox;

namespace {

constexpr uint64_t kCodeAddr = 0x10000;
constexpr uint64_t kDataAddr = 0x200000;
constexpr uint64_t kCodeOffset = 0x1000;
constexpr uint64_t kDataSize = 0x2000;
constexpr uint64_t kBudget = 5'000;

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

// ---- shaped programs: raw random bytes are mostly illegal instructions a
// few words in, so they rarely build the long straight runs, loops and
// branches not taken that budget bugs need. In this mode each input word
// becomes one always-legal instruction (ALU, load/store into the data
// segment, a branch or jump inside the code, an ecall), and the whole body
// is repeated as the input asks, into blocks of thousands of instructions.

constexpr uint8_t kRegs[] = {5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 28, 29, 30, 31};  // never s0, sp
constexpr uint32_t kBase = 8;  // s0 holds the data segment's address

uint32_t reg(uint32_t bits) { return kRegs[bits % sizeof kRegs]; }
uint32_t r_type(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd) {
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | 0x33;
}
uint32_t i_type(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op) {
    return (static_cast<uint32_t>(imm) & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
uint32_t s_type(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3) {
    const uint32_t u = static_cast<uint32_t>(imm);
    return (u >> 5 & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | 0x23;
}
uint32_t b_type(int32_t off, uint32_t rs2, uint32_t rs1, uint32_t f3) {
    const uint32_t u = static_cast<uint32_t>(off);
    return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u >> 1 & 0xf) << 8 |
           (u >> 11 & 1) << 7 | 0x63;
}
uint32_t j_type(int32_t off, uint32_t rd) {
    const uint32_t u = static_cast<uint32_t>(off);
    return (u >> 20 & 1) << 31 | (u >> 1 & 0x3ff) << 21 | (u >> 11 & 1) << 20 | (u >> 12 & 0xff) << 12 | rd << 7 | 0x6f;
}

void shaped_program(const uint8_t* data, size_t size, std::vector<uint8_t>& code) {
    static const uint32_t kAlu[][2] = {{0, 0}, {0x20, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4},
                                       {0, 5}, {0x20, 5}, {0, 6}, {0, 7}, {1, 0}, {1, 4}};
    std::vector<uint32_t> body;
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint32_t w;
        std::memcpy(&w, data + i, 4);
        const uint32_t n = static_cast<uint32_t>(body.size());
        const int32_t back = -4 * static_cast<int32_t>(n ? (w >> 8) % n + 1 : 1);  // to an earlier word
        const int32_t ahead = 4 * static_cast<int32_t>((w >> 8) % 64 + 1);
        switch (w & 15) {
            case 0: case 1: case 2: case 3: case 4: {
                const auto& f = kAlu[(w >> 4) % (sizeof kAlu / sizeof kAlu[0])];
                body.push_back(r_type(f[0], reg(w >> 12), reg(w >> 16), f[1], reg(w >> 20)));
                break;
            }
            case 5: case 6: body.push_back(i_type(static_cast<int32_t>(w >> 20) - 2048, reg(w >> 4), 0, reg(w >> 8), 0x13)); break;
            case 7: body.push_back(i_type((w >> 4) % 0x800 & ~7u, kBase, 3, reg(w >> 16), 0x03)); break;  // ld
            case 8: body.push_back(s_type((w >> 4) % 0x800 & ~7u, reg(w >> 16), kBase, 3)); break;         // sd
            case 9: case 10: body.push_back(b_type(ahead, reg(w >> 16), reg(w >> 20), (w >> 4) % 2 ? 1 : 0)); break;
            case 11: case 12: body.push_back(b_type(back, reg(w >> 16), reg(w >> 20), (w >> 4) % 2 ? 5 : 4)); break;
            case 13: body.push_back(j_type(n ? back : 4, 0)); break;
            case 14: body.push_back(i_type(static_cast<int32_t>(w >> 4 & 0x1ff), 0, 0, 17, 0x13)); break;  // a7 = a syscall
            default: body.push_back(0x00000073); break;  // ecall
        }
    }
    const unsigned repeat = size ? 1 + data[size - 1] % 64 : 1;
    std::vector<uint32_t> words{0x00200437};  // lui s0, 0x200: the data segment
    for (unsigned r = 0; r < repeat; ++r) words.insert(words.end(), body.begin(), body.end());
    words.insert(words.end(), {0x00000513, 0x05d00893, 0x00000073});  // exit(0)
    code.resize(words.size() * 4);
    std::memcpy(code.data(), words.data(), code.size());
}

// Everything a run leaves that the guest could observe.
bool same(const ExitResult& a, const ExitResult& b) {
    return a.outcome == b.outcome && a.reason == b.reason && a.exit_code == b.exit_code &&
           a.stdout_data == b.stdout_data && a.stderr_data == b.stderr_data && a.instructions == b.instructions &&
           a.x == b.x && a.f == b.f;
}

// MTD_FUZZ_TIERS=1: every input also runs in the second execution tier
// and must end exactly as in the interpreter. Slow (a host compile per
// input, about a second): for the corpus (tests/test_fuzz.py) and
// campaigns of their own. The code compiled is mtd's translator's output;
// outside a server, it is compiled without the build sandbox.
bool tiers() {
    static const bool on = std::getenv("MTD_FUZZ_TIERS") && std::string(std::getenv("MTD_FUZZ_TIERS")) == "1";
    return on;
}

std::string compile(const std::string& source) {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/mtd-fuzz-tiers-XXXXXX";
        if (!mkdtemp(tmpl)) __builtin_trap();
        return std::string(tmpl);
    }();
    static unsigned n = 0;  // a name per input: dlopen keeps what it loaded by name
    const std::string cpp = dir + "/t.cpp", so = dir + "/t" + std::to_string(n++) + ".so";
    FILE* f = std::fopen(cpp.c_str(), "w");
    if (!f) __builtin_trap();
    std::fwrite(source.data(), 1, source.size(), f);
    std::fclose(f);
    const std::string cmd = "g++ -std=c++20 -O1 -march=native -fPIC -shared -w -fvisibility=hidden -I" +
                            std::string(MTD_TRANSLATE_INCLUDE) + " " + cpp + " -o " + so;
    if (std::system(cmd.c_str()) != 0) __builtin_trap();  // the translator wrote what does not compile
    return so;
}

// Leaves `fill` in the stack the next call will use.
__attribute__((noinline)) void poison_stack(uint8_t fill) {
    uint8_t junk[32 * 1024];
    std::memset(junk, fill, sizeof junk);
    __asm__ volatile("" : : "r"(junk) : "memory");  // the stores must happen
}

__attribute__((noinline)) ExitResult run(const std::vector<uint8_t>& elf, uint64_t budget, uint8_t fill) {
    static const std::vector<std::string> argv{"fuzz"};
    poison_stack(fill);
    return run_to_exit(elf, argv, "stdin", budget, 16ull << 20);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;  // no executable bytes: not a valid ELF of this shape
    static std::vector<uint8_t> elf, code;
    // Odd first byte: a shaped program from the rest, under a budget the
    // input picks (so that it runs out anywhere in the code); even: raw code.
    uint64_t budget = kBudget;
    if (data[0] & 1) {
        shaped_program(data + 1, size - 1, code);
        build_elf(code.data(), code.size(), elf);
        budget = 1 + (static_cast<uint64_t>(data[0]) << 4);
    } else {
        build_elf(data, size, elf);
    }
    const ExitResult r = run(elf, budget, 0x00);
    // The ELF is always well formed, so a load error is a harness bug.
    if (r.reason.rfind("load:", 0) == 0) __builtin_trap();
    if (r.outcome == Outcome::Responded || r.outcome == Outcome::Ready) __builtin_trap();
    if (r.instructions > budget + detail::kMaxSegment - 1) __builtin_trap();
    const ExitResult again = run(elf, budget, 0xA5);
    if (!same(again, r)) __builtin_trap();
    if (tiers()) {
        // The second tier: what ran, translated, compiled and run again.
        Tiering emit;
        emit.emit = true;
        const ExitResult profiled = run_to_exit(elf, {"fuzz"}, "stdin", budget, 16ull << 20, false, emit);
        if (!same(profiled, r)) __builtin_trap();
        if (!profiled.translation_source.empty()) {
            Tiering translated;
            translated.shared_object = compile(profiled.translation_source);
            const ExitResult t = run_to_exit(elf, {"fuzz"}, "stdin", budget, 16ull << 20, false, translated);
            if (!same(t, r)) __builtin_trap();
        }
    }
    return 0;
}
