/* The guest's allocator, linked into every tenant ELF in place of glibc's
 * malloc (glibc allows this in a static link when the whole family is
 * defined; see "Replacing malloc" in its manual).
 *
 * Why: every guest instruction costs ~17 host instructions, and every
 * 64-byte line a request writes is copied back after it. glibc's malloc
 * spends ~140 instructions of a hello request and writes arena and bin
 * lines all over; here a malloc or free is a handful of instructions that
 * touch one free-list head and the block itself.
 *
 * Design: size classes with singly linked free lists, carved from a bump
 * region grown with sbrk (mmap if brk is exhausted); blocks are never split
 * or merged. Blocks above the largest class come straight from mmap.
 * Every block has an 8-byte header just before the 16-byte aligned pointer
 * handed out, so block starts are 8 mod 16. The guest is single-threaded
 * (the sandbox has no clone), so there are no locks. */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Header word: a multiple of 16 in the high bits, the kind in the low ones. */
#define KIND_MASK ((size_t)15)
#define KIND_SMALL 0   /* value: the block's total size (its class size) */
#define KIND_MMAP 1    /* value: the mapping's length; the mapping starts 16 bytes before */
#define KIND_ALIGNED 2 /* value: how far the real block's pointer is below this one */

#define HEADER 8
#define ALIGNMENT 16
#define PAGE 4096

/* Classes by total block size: every multiple of 16 up to 1 KiB (64
 * classes), then four per doubling up to 256 KiB (32 more): at most 25%
 * slack above 1 KiB. */
#define FINE_MAX 1024
#define NUM_CLASSES 96
#define CLASS_MAX ((size_t)256 * 1024)
#define GROW_MIN ((size_t)64 * 1024)

/* All the allocator's state. The bump pointers and the six smallest classes'
 * heads (blocks up to 88 bytes) share the first cache line, so a request
 * that only makes small allocations writes one line of state. */
static struct {
    char *bump;  /* next block's header; 8 mod 16 */
    char *end;
    void *free_list[NUM_CLASSES];
} heap __attribute__((aligned(64)));

static inline size_t header_of(const void *p) { return ((const size_t *)p)[-1]; }
static inline void set_header(void *p, size_t h) { ((size_t *)p)[-1] = h; }

/* t: a block's total size, a multiple of 16, at most CLASS_MAX. */
static inline size_t class_of(size_t t) {
    if (t <= FINE_MAX) return t / 16 - 1;
    unsigned e = 63 - (unsigned)__builtin_clzl(t - 1); /* t in (2^e, 2^(e+1)] */
    return 64 + (e - 10) * 4 + (unsigned)((t - 1 - ((size_t)1 << e)) >> (e - 2));
}

static inline size_t class_size(size_t c) {
    if (c < 64) return (size_t)(c + 1) * 16;
    unsigned e = 10 + (unsigned)(c - 64) / 4;
    return ((size_t)1 << e) + (size_t)((c - 64) % 4 + 1) * ((size_t)1 << (e - 2));
}

/* Makes room for a block of t bytes at the bump pointer. The tail of a
 * region that cannot be extended is abandoned (it only happens when brk
 * runs out or something else moved it). */
static int grow(size_t t) {
    size_t want = t + ALIGNMENT > GROW_MIN ? (t + ALIGNMENT + PAGE - 1) & ~(size_t)(PAGE - 1)
                                           : GROW_MIN;
    char *p = sbrk((intptr_t)want);
    if (p == (char *)-1) {
        p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            errno = ENOMEM;
            return 0;
        }
    }
    if (p != heap.end) /* a new region: its first header must be 8 mod 16 */
        heap.bump = (char *)((((uintptr_t)p + HEADER + ALIGNMENT - 1) & ~(uintptr_t)(ALIGNMENT - 1)) - HEADER);
    heap.end = p + want;
    return 1;
}

static void *malloc_mmap(size_t n) {
    if (n > PTRDIFF_MAX - 2 * PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t len = (n + ALIGNMENT + PAGE - 1) & ~(size_t)(PAGE - 1);
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    set_header(map + ALIGNMENT, len | KIND_MMAP);
    return map + ALIGNMENT;
}

static inline size_t total_size(size_t n) { /* n at most CLASS_MAX - HEADER */
    return (n + HEADER + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
}

static inline void *pop(size_t c) {
    void *p = heap.free_list[c];
    if (p) heap.free_list[c] = *(void **)p;
    return p;
}

/* A new block of class c from the bump region. Memory past the bump pointer
 * has never been written (fresh from brk or mmap), so the block is zero. */
static inline __attribute__((always_inline)) void *carve(size_t c) {
    size_t t = class_size(c);
    if ((size_t)(heap.end - heap.bump) < t && !grow(t)) return NULL;
    void *p = heap.bump + HEADER;
    heap.bump += t;
    set_header(p, t);
    return p;
}

/* Everything but a hit in a fine class's free list: kept out of line so the
 * common case in malloc needs no stack frame. */
static __attribute__((noinline)) void *alloc_slow(size_t n) {
    if (n > CLASS_MAX - HEADER) return malloc_mmap(n);
    size_t c = class_of(total_size(n));
    void *p = pop(c);
    return p ? p : carve(c);
}

/* Not `malloc` itself: the library's declaration of malloc promises the
 * compiler things (a fresh object, nothing before it) that reading the
 * header next to the pointer would break. */
static inline void *alloc(size_t n) {
    if (n <= FINE_MAX - HEADER) {
        size_t c = (n + HEADER + ALIGNMENT - 1) / ALIGNMENT - 1;
        void *p = heap.free_list[c];
        if (__builtin_expect(p != NULL, 1)) {
            heap.free_list[c] = *(void **)p;
            return p;
        }
    }
    return alloc_slow(n);
}

void *malloc(size_t n) { return alloc(n); }

/* Everything but a fine-class block: aligned, mmapped and coarse-class ones. */
static __attribute__((noinline)) void release_slow(void *p, size_t h) {
    if ((h & KIND_MASK) == KIND_ALIGNED) {
        p = (char *)p - (h & ~KIND_MASK);
        h = header_of(p);
    }
    if ((h & KIND_MASK) == KIND_MMAP) {
        int saved = errno; /* free must not change errno */
        munmap((char *)p - ALIGNMENT, h & ~KIND_MASK);
        errno = saved;
        return;
    }
    size_t c = class_of(h);
    *(void **)p = heap.free_list[c];
    heap.free_list[c] = p;
}

static inline void release(void *p) {
    size_t h = header_of(p);
    if (__builtin_expect(h <= FINE_MAX && (h & KIND_MASK) == KIND_SMALL, 1)) {
        size_t c = h / ALIGNMENT - 1;
        *(void **)p = heap.free_list[c];
        heap.free_list[c] = p;
        return;
    }
    release_slow(p, h);
}

void free(void *p) {
    if (p) release(p);
}

size_t malloc_usable_size(void *p) {
    if (!p) return 0;
    size_t h = header_of(p), offset = 0;
    if ((h & KIND_MASK) == KIND_ALIGNED) {
        offset = h & ~KIND_MASK;
        h = header_of((char *)p - offset);
    }
    size_t usable = (h & KIND_MASK) == KIND_MMAP ? (h & ~KIND_MASK) - ALIGNMENT : h - HEADER;
    return usable - offset;
}

void *calloc(size_t count, size_t size) {
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    /* Only a recycled block needs zeroing: fresh mappings and blocks carved
     * from the bump region are zero already, and not writing them keeps
     * their pages untouched (a request pays for every page it writes). */
    if (n > CLASS_MAX - HEADER) return malloc_mmap(n);
    size_t c = class_of(total_size(n));
    void *p = pop(c);
    if (!p) return carve(c);
    memset(p, 0, n);
    return p;
}

void *realloc(void *p, size_t n) {
    if (!p) return malloc(n);
    if (n == 0) { /* glibc frees and returns NULL */
        release(p);
        return NULL;
    }
    size_t usable = malloc_usable_size(p);
    if (n <= usable) return p; /* shrinking, or growing within the block */
    void *q = alloc(n);
    if (!q) return NULL; /* the old block stays valid */
    memcpy(q, p, usable);
    release(p);
    return q;
}

/* Any power-of-two alignment; 16 or less is what malloc gives anyway. */
static void *aligned(size_t alignment, size_t n) {
    if (alignment <= ALIGNMENT) return alloc(n);
    if (n > PTRDIFF_MAX - alignment) {
        errno = ENOMEM;
        return NULL;
    }
    /* raw and the result are both 16-aligned, so when they differ there are
     * at least 16 bytes between them for the result's header. */
    char *raw = alloc(n + alignment - ALIGNMENT);
    if (!raw) return NULL;
    char *p = (char *)(((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1));
    if (p != raw) set_header(p, (size_t)(p - raw) | KIND_ALIGNED);
    return p;
}

static inline int power_of_two(size_t x) { return x && !(x & (x - 1)); }

void *memalign(size_t alignment, size_t n) {
    if (!power_of_two(alignment)) {
        /* glibc rounds a non-power-of-two up, and refuses absurd ones */
        if (alignment > PTRDIFF_MAX / 2 + 1) {
            errno = EINVAL;
            return NULL;
        }
        size_t a = 1;
        while (a < alignment) a <<= 1;
        alignment = a;
    }
    return aligned(alignment, n);
}

void *aligned_alloc(size_t alignment, size_t n) { return memalign(alignment, n); }

int posix_memalign(void **out, size_t alignment, size_t n) {
    if (!power_of_two(alignment) || alignment % sizeof(void *)) return EINVAL;
    int saved = errno; /* reports through the return value, not errno */
    void *p = aligned(alignment, n);
    errno = saved;
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t n) { return aligned(PAGE, n); }

void *pvalloc(size_t n) {
    if (n > PTRDIFF_MAX - PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(PAGE, n ? (n + PAGE - 1) & ~(size_t)(PAGE - 1) : PAGE);
}

/* The rest of glibc's malloc API, so a tenant that calls one of these links
 * against this allocator instead of pulling glibc's in beside it (two
 * definitions of malloc would not link). None has anything to tune here. */
int mallopt(int param, int value) { (void)param; (void)value; return 1; }
int malloc_trim(size_t pad) { (void)pad; return 0; }
void malloc_stats(void) {}
struct mallinfo2 mallinfo2(void) { struct mallinfo2 m = {0}; return m; }
struct mallinfo mallinfo(void) { struct mallinfo m = {0}; return m; }
int malloc_info(int options, FILE *out) {
    if (options) {
        errno = EINVAL;
        return -1;
    }
    return fputs("<malloc version=\"1\">\n</malloc>\n", out) < 0 ? -1 : 0;
}
