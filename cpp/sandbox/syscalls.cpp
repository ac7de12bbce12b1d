// The Linux (riscv64, asm-generic numbering) system-call subset a static
// glibc program needs. Everything is answered from inside the sandbox: no
// host file, socket or process is reachable. Unknown calls get -ENOSYS.
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core.hpp"

namespace mtd::sandbox::detail {
namespace {

constexpr int64_t kPid = 1000;
constexpr int64_t kUid = 1000;

enum : uint64_t {
    SYS_getcwd = 17, SYS_fcntl = 25, SYS_ioctl = 29, SYS_faccessat = 48, SYS_openat = 56,
    SYS_close = 57, SYS_lseek = 62, SYS_read = 63, SYS_write = 64, SYS_readv = 65, SYS_writev = 66,
    SYS_pread64 = 67, SYS_readlinkat = 78, SYS_newfstatat = 79, SYS_fstat = 80, SYS_exit = 93,
    SYS_exit_group = 94, SYS_set_tid_address = 96, SYS_futex = 98, SYS_set_robust_list = 99,
    SYS_nanosleep = 101, SYS_clock_gettime = 113, SYS_clock_getres = 114,
    SYS_clock_nanosleep = 115, SYS_sched_yield = 124, SYS_kill = 129, SYS_tkill = 130,
    SYS_tgkill = 131, SYS_sigaltstack = 132, SYS_rt_sigaction = 134, SYS_rt_sigprocmask = 135,
    SYS_times = 153, SYS_uname = 160, SYS_getrlimit = 163, SYS_getrusage = 165,
    SYS_prctl = 167, SYS_gettimeofday = 169, SYS_getpid = 172, SYS_getppid = 173,
    SYS_getuid = 174, SYS_geteuid = 175, SYS_getgid = 176, SYS_getegid = 177, SYS_gettid = 178,
    SYS_sysinfo = 179, SYS_brk = 214, SYS_munmap = 215, SYS_mremap = 216, SYS_mmap = 222,
    SYS_mprotect = 226, SYS_madvise = 233, SYS_riscv_flush_icache = 259, SYS_prlimit64 = 261,
    SYS_getrandom = 278, SYS_rseq = 293,
};

int64_t err(int e) { return -static_cast<int64_t>(e); }

// Charges `units` of work (core.hpp: SysCall) if the budget can pay for
// them; otherwise charges nothing, and the caller must not do the work.
bool afford(SysCall& call, uint64_t units) {
    if (units > call.budget - call.work) {
        call.over_budget = true;
        return false;
    }
    if (units > call.slice - std::min(call.slice, call.work)) {
        call.later = true;
        return false;
    }
    call.work += units;
    return true;
}
uint64_t copy_units(uint64_t bytes) { return bytes / 8; }
uint64_t page_units(uint64_t bytes) { return page_up(bytes) >> kPageBits; }

bool put(Core& c, uint64_t addr, const void* src, uint64_t n) { return c.mem.write_bytes(addr, src, n); }

int64_t do_write(Core& c, SysEnv& env, SysCall& call, int64_t fd, uint64_t buf, uint64_t len) {
    if (fd != 1 && fd != 2) return err(EBADF);
    if (len > Core::kMaxIoChunk) len = Core::kMaxIoChunk;  // short write; libc loops
    if (!afford(call, copy_units(len))) return 0;
    c.iobuf.resize(len);
    if (!c.mem.read_bytes(buf, c.iobuf.data(), len)) return err(EFAULT);
    if (len) env.output(static_cast<int>(fd), c.iobuf);
    return static_cast<int64_t>(len);
}

int64_t do_writev(Core& c, SysEnv& env, SysCall& call, int64_t fd, uint64_t iov, uint64_t cnt) {
    if (fd != 1 && fd != 2) return err(EBADF);
    if (cnt > 1024) return err(EINVAL);
    c.iobuf.clear();
    for (uint64_t i = 0; i < cnt; ++i) {
        uint64_t base, len;
        if (!c.mem.load<uint64_t>(iov + i * 16, base) || !c.mem.load<uint64_t>(iov + i * 16 + 8, len))
            return err(EFAULT);
        const uint64_t room = Core::kMaxIoChunk - c.iobuf.size();
        if (len > room) len = room;
        if (!afford(call, 1 + copy_units(len))) return 0;
        const size_t old = c.iobuf.size();
        c.iobuf.resize(old + len);
        if (!c.mem.read_bytes(base, c.iobuf.data() + old, len)) return err(EFAULT);
        if (c.iobuf.size() == Core::kMaxIoChunk) break;
    }
    if (!c.iobuf.empty()) env.output(static_cast<int>(fd), c.iobuf);
    return static_cast<int64_t>(c.iobuf.size());
}

int64_t do_read(Core& c, SysEnv& env, SysCall& call, int64_t fd, uint64_t buf, uint64_t len) {
    if (fd != 0) return err(EBADF);
    if (len > Core::kMaxIoChunk) len = Core::kMaxIoChunk;
    if (!afford(call, copy_units(len))) return 0;
    uint8_t tmp[4096];
    uint64_t total = 0;
    while (total < len) {
        const uint64_t want = std::min<uint64_t>(sizeof tmp, len - total);
        const int64_t got = env.input(tmp, want);
        if (got < 0) return total ? static_cast<int64_t>(total) : got;
        if (got == 0) break;
        if (!put(c, buf + total, tmp, static_cast<uint64_t>(got))) return err(EFAULT);
        total += static_cast<uint64_t>(got);
        if (static_cast<uint64_t>(got) < want) break;
    }
    return static_cast<int64_t>(total);
}

// struct stat (asm-generic, 128 bytes) describing a character device, which
// is what a terminal or /dev/null looks like to the guest's stdio.
int64_t fill_stat(Core& c, uint64_t addr) {
    uint8_t st[128] = {};
    auto w32 = [&](int off, uint32_t v) { std::memcpy(st + off, &v, 4); };
    auto w64 = [&](int off, uint64_t v) { std::memcpy(st + off, &v, 8); };
    w64(0, 0x16);            // st_dev
    w64(8, 3);               // st_ino
    w32(16, 0020000 | 0620); // S_IFCHR | rw--w----
    w32(20, 1);              // st_nlink
    w32(24, kUid);
    w32(28, kUid);
    w64(32, (136 << 8) | 0); // st_rdev: pts/0
    w32(56, 1024);           // st_blksize
    return put(c, addr, st, sizeof st) ? 0 : err(EFAULT);
}

// The guest's clocks: {seconds, nanoseconds} of clock `id`, or false
// (-EINVAL, nothing written) for an id the guest may not read. Wall time is
// the host's. Monotonic time (every monotonic and boot-time variant) counts
// from this process's first reading, so it tells nothing of the host's
// uptime. The CPU-time clocks count the guest's own instructions, 1 ns
// each: never the host process's or thread's CPU time, which is every
// tenant's work. Other ids, such as other processes' CPU clocks, are
// refused. The host's reading is used only if the host call succeeded.
bool guest_clock(const Core& c, const SysEnv& env, uint64_t id, int64_t out[2]) {
    enum : uint64_t {
        REALTIME = 0, MONOTONIC = 1, PROCESS_CPUTIME = 2, THREAD_CPUTIME = 3, MONOTONIC_RAW = 4,
        REALTIME_COARSE = 5, MONOTONIC_COARSE = 6, BOOTTIME = 7, REALTIME_ALARM = 8, BOOTTIME_ALARM = 9,
    };
    struct timespec ts;
    if (env.frozen() && id != PROCESS_CPUTIME && id != THREAD_CPUTIME) {
        const bool known = id <= BOOTTIME_ALARM;
        if (known) out[0] = 1, out[1] = 0;
        return known;
    }
    switch (id) {
        case REALTIME: case REALTIME_COARSE: case REALTIME_ALARM:
            if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return false;
            out[0] = ts.tv_sec;
            out[1] = ts.tv_nsec;
            return true;
        case MONOTONIC: case MONOTONIC_RAW: case MONOTONIC_COARSE: case BOOTTIME: case BOOTTIME_ALARM: {
            static const uint64_t origin = [] {
                struct timespec t0;
                return clock_gettime(CLOCK_MONOTONIC, &t0) == 0
                           ? static_cast<uint64_t>(t0.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(t0.tv_nsec)
                           : 0;
            }();
            if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return false;
            // From 1 s, so no guest sees a monotonic time of 0.
            const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 +
                                static_cast<uint64_t>(ts.tv_nsec) - origin + 1'000'000'000;
            out[0] = static_cast<int64_t>(ns / 1'000'000'000);
            out[1] = static_cast<int64_t>(ns % 1'000'000'000);
            return true;
        }
        case PROCESS_CPUTIME: case THREAD_CPUTIME:
            out[0] = static_cast<int64_t>(c.hart.instret / 1'000'000'000);
            out[1] = static_cast<int64_t>(c.hart.instret % 1'000'000'000);
            return true;
    }
    return false;
}

// Fresh bytes from the host's CSPRNG for every call: never a stream that
// a fork inherits from its master, so no two requests see the same bytes.
int64_t do_getrandom(Core& c, const SysEnv& env, SysCall& call, uint64_t buf, uint64_t len, uint64_t flags) {
    constexpr uint64_t kKnownFlags = 0x7;  // GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE
    if (flags & ~kKnownFlags) return err(EINVAL);
    len = std::min(len, Core::kMaxIoChunk);
    if (!afford(call, copy_units(len))) return 0;
    uint8_t bytes[256];
    for (uint64_t done = 0; done < len;) {
        const size_t want = std::min<uint64_t>(sizeof bytes, len - done);
        const ssize_t got = env.frozen() ? static_cast<ssize_t>(want) : getrandom(bytes, want, 0);
        if (env.frozen()) std::memset(bytes, 0x5a, want);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return done ? static_cast<int64_t>(done) : err(EAGAIN);
        if (!put(c, buf + done, bytes, static_cast<uint64_t>(got))) return err(EFAULT);
        done += static_cast<uint64_t>(got);
    }
    return static_cast<int64_t>(len);
}

int64_t do_mmap(Core& c, SysCall& call, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags,
                int64_t fd) {
    constexpr uint64_t MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_FIXED_NOREPLACE = 0x100000;
    if (!(flags & MAP_ANONYMOUS)) return err(fd < 0 ? EBADF : ENODEV);  // no files here
    if (len == 0 || len > kMmapEnd - kMmapBase) return err(len ? ENOMEM : EINVAL);
    len = page_up(len);
    Memory& m = c.mem;
    uint64_t at;
    uint64_t searched = 0;  // pages a search for free space walked past
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr & kPageMask) return err(EINVAL);
        if (addr < kMmapBase || addr + len > kMmapEnd) return err(ENOMEM);
        if ((flags & MAP_FIXED_NOREPLACE) && !m.is_free(addr, len)) return err(EEXIST);
        at = addr;
    } else {
        addr = page_down(addr);
        if (addr >= kMmapBase && addr + len <= kMmapEnd && m.is_free(addr, len)) {
            at = addr;
        } else {
            // The search is charged as the pages from the hint to what it
            // found (wrapping), or the whole area: an upper bound on what it
            // looked at (it skips leaves), and the same whatever this
            // Machine ran before, like everything a guest can observe.
            const uint64_t hint = m.layout.mmap_hint >= kMmapBase && m.layout.mmap_hint < kMmapEnd
                                      ? m.layout.mmap_hint : kMmapBase;
            at = m.find_free(len, kMmapBase, kMmapEnd, hint);
            searched = !at ? kMmapEnd - kMmapBase
                           : at >= hint ? at - hint : (kMmapEnd - hint) + (at - kMmapBase);
        }
    }
    // The search (host work already done, bounded by the area) and the
    // entries to map: charged before anything changes.
    if (!afford(call, page_units(searched) + (at ? page_units(len) : 0))) return 0;
    if (!at) return err(ENOMEM);
    if (!m.map_anon(at, len, prot & 7)) return err(ENOMEM);
    if (!(flags & MAP_FIXED)) m.layout.mmap_hint = at + len;
    return static_cast<int64_t>(at);
}

bool touches_text(const Memory& m, uint64_t a, uint64_t len) {
    return a < m.layout.exec_hi && a + len > page_down(m.layout.exec_lo);
}

int64_t do_brk(Core& c, SysCall& call, uint64_t want) {
    Layout& l = c.mem.layout;
    if (want < l.brk_start || want > kBrkLimit) return static_cast<int64_t>(l.brk);
    const uint64_t old_end = page_up(l.brk), new_end = page_up(want);
    if (!afford(call, page_units(new_end > old_end ? new_end - old_end : old_end - new_end))) return 0;
    if (new_end > old_end) {
        if (!c.mem.is_free(old_end, new_end - old_end)) return static_cast<int64_t>(l.brk);
        if (!c.mem.map_anon(old_end, new_end - old_end, kPteR | kPteW)) return static_cast<int64_t>(l.brk);
    } else if (new_end < old_end) {
        c.mem.unmap(new_end, old_end - new_end);
    }
    l.brk = want;
    return static_cast<int64_t>(want);
}

}  // namespace

SysAction linux_syscall(Core& c, SysEnv& env, SysCall& call) {
    uint64_t* x = c.hart.x;
    const uint64_t nr = x[17];
    const uint64_t a0 = x[10], a1 = x[11], a2 = x[12], a3 = x[13], a4 = x[14];
    const auto s0 = static_cast<int64_t>(a0);
    int64_t ret = err(ENOSYS);
    switch (nr) {
        case SYS_write: ret = do_write(c, env, call, s0, a1, a2); break;
        case SYS_writev: ret = do_writev(c, env, call, s0, a1, a2); break;
        case SYS_read: ret = do_read(c, env, call, s0, a1, a2); break;
        case SYS_readv: {
            ret = 0;
            for (uint64_t i = 0; i < a2 && i < 1024; ++i) {
                uint64_t base, len;
                if (!c.mem.load<uint64_t>(a1 + i * 16, base) || !c.mem.load<uint64_t>(a1 + i * 16 + 8, len)) {
                    ret = err(EFAULT);
                    break;
                }
                const int64_t got = do_read(c, env, call, s0, base, len);
                if (got < 0) { if (ret == 0) ret = got; break; }
                ret += got;
                if (static_cast<uint64_t>(got) < len) break;
            }
            break;
        }
        case SYS_close: ret = s0 >= 0 && s0 <= 2 ? 0 : err(EBADF); break;
        case SYS_lseek: ret = s0 >= 0 && s0 <= 2 ? err(ESPIPE) : err(EBADF); break;
        case SYS_pread64: ret = err(ESPIPE); break;
        case SYS_ioctl: ret = s0 >= 0 && s0 <= 2 ? err(ENOTTY) : err(EBADF); break;
        case SYS_fcntl: ret = s0 >= 0 && s0 <= 2 ? 0 : err(EBADF); break;
        case SYS_openat: case SYS_readlinkat: case SYS_faccessat: ret = err(ENOENT); break;
        case SYS_getcwd: {
            if (a1 < 2) { ret = err(ERANGE); break; }
            ret = put(c, a0, "/", 2) ? 2 : err(EFAULT);
            break;
        }
        case SYS_newfstatat: {
            constexpr uint64_t AT_EMPTY_PATH = 0x1000;
            uint8_t ch = 1;
            if ((a3 & AT_EMPTY_PATH) && c.mem.load<uint8_t>(a1, ch) && ch == 0 && s0 >= 0 && s0 <= 2)
                ret = fill_stat(c, a2);
            else
                ret = err(ENOENT);
            break;
        }
        case SYS_fstat: ret = s0 >= 0 && s0 <= 2 ? fill_stat(c, a1) : err(EBADF); break;
        case SYS_exit:
        case SYS_exit_group:
            call.exit_code = static_cast<int>(a0 & 0xff);
            return SysAction::Exit;
        case SYS_set_tid_address: ret = kPid; break;
        case SYS_set_robust_list: ret = 0; break;
        case SYS_rseq: ret = err(ENOSYS); break;
        case SYS_futex: {
            const uint64_t op = a1 & 0x7f;  // strip FUTEX_PRIVATE_FLAG / CLOCK_REALTIME
            // One thread: nobody can wake a waiter, so waiting never blocks.
            ret = (op == 0 || op == 9) ? err(EAGAIN) : 0;
            break;
        }
        case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_sched_yield: ret = 0; break;
        case SYS_clock_gettime: {
            int64_t v[2];
            if (!guest_clock(c, env, a0, v)) { ret = err(EINVAL); break; }
            ret = put(c, a1, v, 16) ? 0 : err(EFAULT);
            break;
        }
        case SYS_clock_getres: {
            int64_t v[2];
            if (!guest_clock(c, env, a0, v)) { ret = err(EINVAL); break; }
            v[0] = 0;
            v[1] = 1;
            ret = (a1 == 0 || put(c, a1, v, 16)) ? 0 : err(EFAULT);
            break;
        }
        case SYS_gettimeofday: {
            int64_t v[2];
            if (!guest_clock(c, env, 0, v)) { ret = err(EINVAL); break; }
            v[1] /= 1000;
            ret = (a0 == 0 || put(c, a0, v, 16)) ? 0 : err(EFAULT);
            break;
        }
        case SYS_times: {
            const int64_t v[4] = {static_cast<int64_t>(c.hart.instret / 10'000'000), 0, 0, 0};
            if (a0 && !put(c, a0, v, sizeof v)) { ret = err(EFAULT); break; }
            ret = static_cast<int64_t>(c.hart.instret / 10'000'000);
            break;
        }
        case SYS_getrusage: {
            uint8_t z[144] = {};
            ret = put(c, a1, z, sizeof z) ? 0 : err(EFAULT);
            break;
        }
        case SYS_kill: case SYS_tkill: case SYS_tgkill: {
            const uint64_t sig = nr == SYS_tgkill ? a2 : a1;
            const int64_t target = nr == SYS_tgkill ? static_cast<int64_t>(a1) : s0;
            if (target != kPid && !(nr == SYS_kill && (target == 0 || target == -1))) { ret = err(ESRCH); break; }
            if (sig == 0) { ret = 0; break; }
            call.exit_code = 128 + static_cast<int>(sig & 0x7f);
            return SysAction::Abort;  // default action of every catchable signal we see: die
        }
        case SYS_sigaltstack: {
            if (a1) {
                uint8_t ss[24] = {};
                const uint32_t disabled = 2;  // SS_DISABLE
                std::memcpy(ss + 8, &disabled, 4);
                if (!put(c, a1, ss, sizeof ss)) { ret = err(EFAULT); break; }
            }
            ret = 0;
            break;
        }
        case SYS_rt_sigaction: {
            uint8_t z[32] = {};
            ret = (a2 == 0 || put(c, a2, z, 24)) ? 0 : err(EFAULT);
            break;
        }
        case SYS_rt_sigprocmask: {
            const uint64_t z = 0;
            ret = (a2 == 0 || put(c, a2, &z, 8)) ? 0 : err(EFAULT);
            break;
        }
        case SYS_uname: {
            char u[6][65] = {};
            std::strcpy(u[0], "Linux");
            std::strcpy(u[1], "mtd");
            std::strcpy(u[2], "6.1.0");
            std::strcpy(u[3], "#1 SMP mtd");
            std::strcpy(u[4], "riscv64");
            std::strcpy(u[5], "(none)");
            ret = put(c, a0, u, sizeof u) ? 0 : err(EFAULT);
            break;
        }
        case SYS_getrlimit: case SYS_prlimit64: {
            const uint64_t resource = nr == SYS_prlimit64 ? a1 : a0;
            const uint64_t out = nr == SYS_prlimit64 ? a3 : a1;
            if (nr == SYS_prlimit64 && a0 != 0 && s0 != kPid) { ret = err(ESRCH); break; }
            uint64_t v[2] = {~0ull, ~0ull};
            if (resource == 3) v[0] = kStackSize;          // RLIMIT_STACK
            if (resource == 7) v[0] = v[1] = 1024;         // RLIMIT_NOFILE
            ret = (out == 0 || put(c, out, v, 16)) ? 0 : err(EFAULT);
            break;
        }
        case SYS_getpid: case SYS_gettid: ret = kPid; break;
        case SYS_getppid: ret = 1; break;
        case SYS_getuid: case SYS_geteuid: case SYS_getgid: case SYS_getegid: ret = kUid; break;
        case SYS_prctl: ret = err(EINVAL); break;
        case SYS_brk: ret = do_brk(c, call, a0); break;
        case SYS_mmap: ret = do_mmap(c, call, a0, a1, a2, a3, static_cast<int64_t>(a4)); break;
        case SYS_munmap: {
            if ((a0 & kPageMask) || a1 == 0) { ret = err(EINVAL); break; }
            const uint64_t len = page_up(a1);
            if (a0 >= kSpaceSize || len > kSpaceSize - a0 || touches_text(c.mem, a0, len)) { ret = err(EINVAL); break; }
            if (!afford(call, page_units(len))) break;
            c.mem.unmap(a0, len);
            ret = 0;
            break;
        }
        case SYS_mprotect: {
            if (a0 & kPageMask) { ret = err(EINVAL); break; }
            const uint64_t len = page_up(a1);
            if (a0 >= kSpaceSize || len > kSpaceSize - a0) { ret = err(ENOMEM); break; }
            if (touches_text(c.mem, a0, len) && (a2 & kPteW)) { ret = err(EACCES); break; }
            if (!afford(call, page_units(len))) break;
            ret = c.mem.protect(a0, len, a2 & 7) ? 0 : err(ENOMEM);
            break;
        }
        case SYS_mremap: ret = err(ENOMEM); break;  // glibc falls back to malloc+copy
        case SYS_madvise: ret = 0; break;
        case SYS_riscv_flush_icache: ret = 0; break;
        case SYS_getrandom: ret = do_getrandom(c, env, call, a0, a1, a2); break;
        case SYS_sysinfo: ret = err(ENOSYS); break;
        default: break;
    }
    // a0 as it was: the ecall never retired (and, for Later, runs again).
    if (call.over_budget) return SysAction::Budget;
    if (call.later) return SysAction::Later;
    x[10] = static_cast<uint64_t>(ret);
    return SysAction::Continue;
}

const char* stop_reason(const Core& c, Stop s) {
    switch (s) {
        case Stop::Budget: return "instruction budget exhausted";
        case Stop::MemoryLimit: return "memory limit exceeded";
        case Stop::Ecall: return "ecall";
        case Stop::Translated: return "stopped for translated code";
        case Stop::Fault: break;
    }
    switch (c.hart.fault) {
        case Fault::Load: return "load access fault";
        case Fault::Store: return "store access fault";
        case Fault::Fetch: return "instruction fetch fault";
        case Fault::Illegal: return "illegal instruction";
        case Fault::Breakpoint: return "breakpoint (ebreak)";
        case Fault::Misaligned: return "misaligned atomic access";
        case Fault::CodeLimit: return "decoded-code limit exceeded (32 MiB of records: 4 MiB of distinct code run)";
        case Fault::None: break;
    }
    return "fault";
}

void stop_detail(const Core& c, Stop s, char* buf, size_t size) {
    const char* r = stop_reason(c, s);
    // Below the stack, with sp already there: the stack ran out (the pages
    // under it are never mapped). Worth saying so: the address alone is
    // cryptic.
    constexpr uint64_t kStackBottom = kStackTop - kStackSize, kNear = 1 << 20;
    const uint64_t a = c.hart.fault_addr, sp = c.hart.x[2];
    const bool stack_overflow = s == Stop::Fault && (c.hart.fault == Fault::Load || c.hart.fault == Fault::Store) &&
                                a < kStackBottom && kStackBottom - a <= kNear && sp < kStackBottom &&
                                kStackBottom - sp <= kNear;
    if (stack_overflow)
        std::snprintf(buf, size, "stack overflow (%llu MiB): %s at 0x%llx (pc 0x%llx)",
                      static_cast<unsigned long long>(kStackSize >> 20), r, static_cast<unsigned long long>(a),
                      static_cast<unsigned long long>(c.hart.pc));
    else if (s == Stop::Fault && (c.hart.fault == Fault::Load || c.hart.fault == Fault::Store ||
                                  c.hart.fault == Fault::Misaligned))
        std::snprintf(buf, size, "%s at 0x%llx (pc 0x%llx)", r,
                      static_cast<unsigned long long>(c.hart.fault_addr),
                      static_cast<unsigned long long>(c.hart.pc));
    else
        std::snprintf(buf, size, "%s at pc 0x%llx", r, static_cast<unsigned long long>(c.hart.pc));
}

}  // namespace mtd::sandbox::detail
