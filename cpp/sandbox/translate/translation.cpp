#include "translation.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "../fpu.hpp"
#include "../natives.hpp"

namespace mtd::sandbox::translate {

static_assert(kFaultLoad == static_cast<uint8_t>(detail::Fault::Load) &&
              kFaultStore == static_cast<uint8_t>(detail::Fault::Store) &&
              kFaultFetch == static_cast<uint8_t>(detail::Fault::Fetch) &&
              kFaultIllegal == static_cast<uint8_t>(detail::Fault::Illegal) &&
              kFaultBreakpoint == static_cast<uint8_t>(detail::Fault::Breakpoint) &&
              kFaultMisaligned == static_cast<uint8_t>(detail::Fault::Misaligned));

namespace {

template <class T>
T symbol(void* handle, const char* name) {
    void* p = dlsym(handle, name);
    if (!p) throw std::runtime_error(std::string("translation lacks ") + name);
    return reinterpret_cast<T>(p);
}

// The host's slow paths (abi.hpp: Host), the interpreter's own.
bool host_load(void* m, uint64_t a, void* out, unsigned n) {
    return static_cast<detail::Memory*>(m)->read_bytes(a, out, n);
}
// As Memory::store: one page's write_ptr, or the checked write across.
bool host_store(void* m, uint64_t a, const void* in, unsigned n) {
    auto& mem = *static_cast<detail::Memory*>(m);
    if ((a & detail::kPageMask) + n <= detail::kPageSize) {
        uint8_t* p = mem.write_ptr(a, n);
        if (!p) return false;
        std::memcpy(p, in, n);
        return true;
    }
    return mem.write_bytes(a, in, n);
}
uint8_t* host_write_ptr(void* m, uint64_t a, unsigned n) {
    if ((a & detail::kPageMask) + n > detail::kPageSize) return nullptr;  // atomics are aligned
    return static_cast<detail::Memory*>(m)->write_ptr(a, n);
}
bool host_oom(const void* m) { return static_cast<const detail::Memory*>(m)->oom(); }
bool host_slice_spent(const void* m) { return static_cast<const detail::Memory*>(m)->slice_spent(); }
int host_native(void* h, void* m, unsigned id, uint64_t budget, uint64_t* charged) {
    return static_cast<int>(detail::run_native(static_cast<detail::Native>(id), *static_cast<detail::Hart*>(h),
                                               *static_cast<detail::Memory*>(m), budget, *charged));
}
const Host kHost{host_load, host_store, host_write_ptr, host_oom, host_slice_spent, host_native};

}  // namespace

std::unique_ptr<Translation> Translation::load(const std::string& path, const detail::Text& t) {
    std::unique_ptr<Translation> tr(new Translation());
    tr->handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!tr->handle_) throw std::runtime_error(std::string("cannot load translation: ") + dlerror());
    if (*symbol<const uint32_t*>(tr->handle_, "mtd_t2_abi") != kAbiVersion)
        throw std::runtime_error("translation made for another ABI version");
    if (*symbol<const uint64_t*>(tr->handle_, "mtd_t2_base") != t.base ||
        *symbol<const uint64_t*>(tr->handle_, "mtd_t2_nslots") != t.nslots)
        throw std::runtime_error("translation made for another program");
    const uint32_t count = *symbol<const uint32_t*>(tr->handle_, "mtd_t2_entry_count");
    const uint32_t* slots = symbol<const uint32_t*>(tr->handle_, "mtd_t2_entry_slots");
    const uint32_t* entry_region = symbol<const uint32_t*>(tr->handle_, "mtd_t2_entry_region");
    const uint32_t nregions = *symbol<const uint32_t*>(tr->handle_, "mtd_t2_region_count");
    const RegionFn* regions = symbol<const RegionFn*>(tr->handle_, "mtd_t2_regions");
    tr->uses_fp_ = *symbol<const uint32_t*>(tr->handle_, "mtd_t2_uses_fp") != 0;
    tr->slots_.assign(slots, slots + count);
    tr->entry_region_.assign(entry_region, entry_region + count);
    tr->regions_.assign(regions, regions + nregions);
    if (!std::is_sorted(tr->slots_.begin(), tr->slots_.end()) ||
        (count && tr->slots_.back() >= t.nslots))
        throw std::runtime_error("translation's entries are not slots of the text");
    for (uint32_t r : tr->entry_region_)
        if (r >= nregions) throw std::runtime_error("translation's entries name regions it does not have");
    tr->bits_.assign((t.nslots + 2 + 63) / 64, 0);
    for (uint32_t s : tr->slots_) tr->bits_[s >> 6] |= 1ull << (s & 63);
    unsigned bits = 1;
    while ((1ull << bits) < 2ull * count) ++bits;
    tr->table_.assign(1ull << bits, Bucket{});
    tr->mask_ = (1ull << bits) - 1;
    tr->shift_ = 64 - bits;
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t at = tr->hash(tr->slots_[i]);
        while (tr->table_[at].slot != kEmpty) at = (at + 1) & tr->mask_;
        tr->table_[at] = Bucket{tr->slots_[i], i};
    }
    return tr;
}

Translation::~Translation() {
    if (handle_) dlclose(handle_);
}

detail::Stop run_translated(detail::Hart& h, detail::Memory& m, const detail::Text& t, const Translation& tr,
                            uint64_t limit, uint64_t& translated_instructions) {
    const detail::TlbView tlb = m.tlb_view();
    for (;;) {
        uint32_t index;
        if (tr.entry_at(h.pc, t.base, t.nslots, index)) {
            if (h.f_source && tr.uses_fp()) {  // what the interpreter's first FP instruction does
                std::memcpy(h.f, h.f_source, sizeof h.f);
                h.f_source = nullptr;
            }
            Ctx c{};
            c.x = h.x;
            c.f = h.f;
            c.fflags = &h.fflags;
            c.frm = &h.frm;
            c.reservation = &h.reservation;
            c.hart = &h;
            c.mem = &m;
            c.host = &kHost;
            c.rtlb = tlb.reads;
            c.wtlb = tlb.writes;
            c.gen = *tlb.gen;
            c.top = tlb.top;
            c.left = static_cast<int64_t>(limit - h.instret);
            c.limit = limit;
            c.pc = h.pc;
            const uint32_t host_mxcsr = _mm_getcsr();
            _mm_setcsr(detail::guest_mxcsr(h.frm));
            const int exit = tr.run(c, index, t.base, t.nslots);
            h.fflags |= detail::mxcsr_to_fflags(_mm_getcsr());
            _mm_setcsr(host_mxcsr);
            const uint64_t before = h.instret;
            h.instret = c.limit - static_cast<uint64_t>(c.left);
            // A store that used up the slice's pages ended it (SLICE_CHECK
            // lowers the limit to what has run): the interpreter must stop
            // at the next block entry too, as it would have.
            limit = c.limit;
            translated_instructions += h.instret - before;
            h.pc = c.pc;
            h.x[0] = 0;
            switch (exit) {
                case kExitJump: break;  // on in the interpreter
                case kExitEcall: return detail::Stop::Ecall;
                case kExitBudget: return detail::Stop::Budget;
                case kExitMemory: return detail::Stop::MemoryLimit;
                case kExitFault:
                    if (c.fault) {  // 0: a builtin's, already in the hart
                        h.fault = static_cast<detail::Fault>(c.fault);
                        h.fault_addr = c.fault_addr;
                    }
                    return detail::Stop::Fault;
                default: throw std::runtime_error("translated code returned an unknown exit");
            }
        }
        const detail::Stop s = detail::interpret_tier2(h, m, t, limit, tr.entry_bits());
        if (s != detail::Stop::Translated) return s;
    }
}

}  // namespace mtd::sandbox::translate
