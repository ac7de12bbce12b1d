#include "natives.hpp"

#include "common/hot_path.hpp"
#include "hart.hpp"
#include "memory.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace mtd::sandbox::detail {
namespace {

constexpr std::pair<std::string_view, Native> kNames[] = {
    {"memcpy", Native::Memcpy}, {"memmove", Native::Memmove}, {"memset", Native::Memset},
    {"strlen", Native::Strlen}, {"memcmp", Native::Memcmp},   {"strcmp", Native::Strcmp},
};

uint64_t page_rest(uint64_t a) { return kPageSize - (a & kPageMask); }

NativeStop fault(Hart& h, Fault kind, uint64_t addr) {
    h.fault = kind;
    h.fault_addr = addr;
    return NativeStop::Fault;
}

NativeStop store_fault(Hart& h, const Memory& m, uint64_t addr) {
    return m.oom() ? NativeStop::MemoryLimit : fault(h, Fault::Store, addr);
}

// Copies one chunk that lies inside one page of each side. The source
// pointer is taken again after write_ptr, which may have copied its page.
NativeStop copy_chunk(Hart& h, Memory& m, uint64_t dst, uint64_t src, uint64_t len) {
    if (!m.read_ptr(src)) return fault(h, Fault::Load, src);
    uint8_t* w = m.write_ptr(dst, len);
    if (!w) return store_fault(h, m, dst);
    std::memmove(w, m.read_ptr(src), len);
    return NativeStop::Done;
}

NativeStop move(Hart& h, Memory& m, uint64_t dst, uint64_t src, uint64_t n) {
    if (dst > src && dst - src < n) {  // overlapping, destination above: copy from the end
        for (uint64_t left = n; left;) {
            const uint64_t chunk =
                std::min({left, ((dst + left - 1) & kPageMask) + 1, ((src + left - 1) & kPageMask) + 1});
            left -= chunk;
            if (NativeStop s = copy_chunk(h, m, dst + left, src + left, chunk); s != NativeStop::Done) return s;
        }
        return NativeStop::Done;
    }
    for (uint64_t done = 0; done < n;) {
        const uint64_t chunk = std::min({n - done, page_rest(dst + done), page_rest(src + done)});
        if (NativeStop s = copy_chunk(h, m, dst + done, src + done, chunk); s != NativeStop::Done) return s;
        done += chunk;
    }
    return NativeStop::Done;
}

NativeStop set(Hart& h, Memory& m, uint64_t dst, uint8_t byte, uint64_t n) {
    for (uint64_t done = 0; done < n;) {
        const uint64_t chunk = std::min(n - done, page_rest(dst + done));
        uint8_t* w = m.write_ptr(dst + done, chunk);
        if (!w) return store_fault(h, m, dst + done);
        std::memset(w, byte, chunk);
        done += chunk;
    }
    return NativeStop::Done;
}

uint64_t sext32(int v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }

}  // namespace

std::vector<std::pair<uint64_t, Native>> find_natives(std::span<const uint8_t> elf, uint64_t exec_lo,
                                                      uint64_t exec_hi) {
    std::vector<std::pair<uint64_t, Native>> out;
    auto fits = [&](uint64_t off, uint64_t len) { return off <= elf.size() && len <= elf.size() - off; };
    Elf64_Ehdr eh;
    if (!fits(0, sizeof eh)) return out;
    std::memcpy(&eh, elf.data(), sizeof eh);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || !fits(eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr)))
        return out;
    auto section = [&](uint64_t i) {
        Elf64_Shdr sh;
        std::memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
        return sh;
    };
    for (uint64_t i = 0; i < eh.e_shnum; ++i) {
        const Elf64_Shdr symtab = section(i);
        if (symtab.sh_type != SHT_SYMTAB || symtab.sh_link >= eh.e_shnum) continue;
        const Elf64_Shdr strtab = section(symtab.sh_link);
        if (!fits(symtab.sh_offset, symtab.sh_size) || !fits(strtab.sh_offset, strtab.sh_size)) continue;
        const char* names = reinterpret_cast<const char*>(elf.data() + strtab.sh_offset);
        for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= symtab.sh_size; off += sizeof(Elf64_Sym)) {
            Elf64_Sym sym;
            std::memcpy(&sym, elf.data() + symtab.sh_offset + off, sizeof sym);
            if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
            if (sym.st_value < exec_lo || sym.st_value >= exec_hi || (sym.st_value & 1)) continue;
            if (sym.st_name >= strtab.sh_size) continue;
            const std::string_view name(names + sym.st_name,
                                        strnlen(names + sym.st_name, strtab.sh_size - sym.st_name));
            for (const auto& [n, id] : kNames)
                if (name == n) out.emplace_back(sym.st_value, id);
        }
    }
    std::sort(out.begin(), out.end());
    // One builtin per address (aliases such as bcmp share memcmp's entry).
    out.erase(std::unique(out.begin(), out.end(), [](auto& a, auto& b) { return a.first == b.first; }), out.end());
    return out;
}

MTD_HOT_PATH
NativeStop run_native(Native id, Hart& h, Memory& m, uint64_t budget, uint64_t& charged) {
    uint64_t* x = h.x;
    const uint64_t a0 = x[10], a1 = x[11], a2 = x[12];
    charged = 0;
    auto cost = [](uint64_t bytes) { return 1 + bytes / 8; };
    switch (id) {
        case Native::Memcpy:
        case Native::Memmove:
        case Native::Memset: {
            if (cost(a2) > budget) return NativeStop::Budget;
            const NativeStop s = id == Native::Memset ? set(h, m, a0, static_cast<uint8_t>(a1), a2)
                                                      : move(h, m, a0, a1, a2);
            if (s == NativeStop::Done) charged = cost(a2);
            return s;  // x[10] = dst already
        }
        case Native::Strlen: {
            for (uint64_t len = 0;;) {
                const uint8_t* p = m.read_ptr(a0 + len);
                if (!p) return fault(h, Fault::Load, a0 + len);
                const uint64_t chunk = page_rest(a0 + len);
                const void* nul = std::memchr(p, 0, chunk);
                len += nul ? static_cast<uint64_t>(static_cast<const uint8_t*>(nul) - p) : chunk;
                if (cost(len) > budget) return NativeStop::Budget;
                if (nul) {
                    charged = cost(len);
                    x[10] = len;
                    return NativeStop::Done;
                }
            }
        }
        case Native::Memcmp:
        case Native::Strcmp: {
            const bool strings = id == Native::Strcmp;
            for (uint64_t done = 0;; ) {
                if (!strings && done == a2) {
                    charged = cost(done);
                    x[10] = 0;
                    return NativeStop::Done;
                }
                const uint8_t* p = m.read_ptr(a0 + done);
                if (!p) return fault(h, Fault::Load, a0 + done);
                const uint8_t* q = m.read_ptr(a1 + done);
                if (!q) return fault(h, Fault::Load, a1 + done);
                uint64_t chunk = std::min(page_rest(a0 + done), page_rest(a1 + done));
                if (!strings) chunk = std::min(chunk, a2 - done);
                for (uint64_t i = 0; i < chunk; ++i) {
                    if (p[i] != q[i] || (strings && p[i] == 0)) {
                        charged = cost(done + i);
                        if (charged > budget) return NativeStop::Budget;
                        x[10] = sext32(int(p[i]) - int(q[i]));
                        return NativeStop::Done;
                    }
                }
                done += chunk;
                if (cost(done) > budget) return NativeStop::Budget;
            }
        }
    }
    return fault(h, Fault::Illegal, h.pc);
}

}  // namespace mtd::sandbox::detail
