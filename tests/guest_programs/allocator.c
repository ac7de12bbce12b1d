/* Works an allocator hard: a random mix of malloc, calloc, realloc, free and
 * the aligned allocators over many live blocks, each filled with a pattern
 * that is checked before it is resized or freed, plus the edge cases of the
 * API. What it prints depends only on the seed, never on the allocator, so
 * the same source is compared between glibc's malloc and mtd's
 * (tests/test_allocator.py) as well as between qemu and our emulator. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512
#define OPS 60000

static uint64_t state = 0x9e3779b97f4a7c15u;
static uint64_t next(void) { /* xorshift64*: deterministic on every host */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1du;
}

struct slot {
    unsigned char *p;
    size_t size;
    unsigned char tag;
};
static struct slot slots[SLOTS];
static unsigned long failures, checksum;

static void fail(const char *what, size_t size) {
    if (failures++ < 10) printf("FAIL %s (size %zu)\n", what, size);
}

/* Mostly small blocks, some medium, a few beyond any size class. */
static size_t random_size(void) {
    uint64_t r = next() % 1000;
    if (r < 700) return next() % 129;
    if (r < 950) return next() % 4097;
    if (r < 995) return next() % 70000;
    return 200000 + next() % 400000;
}

static void fill(struct slot *s, size_t from) {
    for (size_t i = from; i < s->size; i++) s->p[i] = (unsigned char)(s->tag + i * 7);
}

static void check(struct slot *s, size_t upto, const char *what) {
    for (size_t i = 0; i < upto; i++) {
        if (s->p[i] != (unsigned char)(s->tag + i * 7)) {
            fail(what, s->size);
            return;
        }
    }
    for (size_t i = 0; i < upto; i += 61) checksum = checksum * 31 + s->p[i];
}

static void check_aligned(void *p, size_t alignment, const char *what) {
    if ((uintptr_t)p % alignment) fail(what, alignment);
}

/* The block must hold malloc_usable_size bytes without touching others. */
static void use_whole_block(struct slot *s) {
    size_t usable = malloc_usable_size(s->p);
    if (usable < s->size) fail("usable size below the request", s->size);
    memset(s->p + s->size, 0xa5, usable - s->size);
}

static void place(struct slot *s, void *p, size_t size) {
    s->p = p;
    s->size = size;
    s->tag = (unsigned char)next();
    if (!p) {
        fail("allocation failed", size);
        s->size = 0;
        return;
    }
    check_aligned(p, 16, "16-byte alignment");
    use_whole_block(s);
    fill(s, 0);
}

static void release(struct slot *s) {
    check(s, s->size, "contents before free");
    free(s->p);
    s->p = NULL;
    s->size = 0;
}

static void step(struct slot *s) {
    uint64_t op = next() % 100;
    if (s->p && op < 40) {
        release(s);
    } else if (s->p && op < 65) { /* realloc keeps the common prefix */
        size_t size = random_size(), keep = size < s->size ? size : s->size;
        unsigned char *q = realloc(s->p, size ? size : 1);
        if (!q) {
            fail("realloc failed", size);
            return;
        }
        s->p = q;
        check(s, keep, "contents after realloc");
        s->size = size ? size : 1;
        check_aligned(q, 16, "realloc alignment");
        use_whole_block(s);
        fill(s, 0);
    } else if (s->p) {
        check(s, s->size, "contents of a live block");
    } else if (op < 50) {
        size_t size = random_size();
        place(s, malloc(size), size);
    } else if (op < 70) {
        size_t count = next() % 64, each = 1 + next() % 64;
        unsigned char *p = calloc(count, each);
        for (size_t i = 0; p && i < count * each; i++)
            if (p[i]) {
                fail("calloc not zeroed", count * each);
                break;
            }
        place(s, p, count * each);
    } else {
        size_t alignment = (size_t)16 << (next() % 10), size = random_size();
        void *p = NULL;
        switch (next() % 5) {
        case 0: p = memalign(alignment, size); break;
        case 1: p = aligned_alloc(alignment, size); break;
        case 2:
            if (posix_memalign(&p, alignment, size)) p = NULL;
            break;
        case 3: p = valloc(size), alignment = 4096; break;
        default: p = pvalloc(size), alignment = 4096; break;
        }
        if (p) check_aligned(p, alignment, "requested alignment");
        place(s, p, size);
    }
}

/* volatile: the compiler must not reason about these sizes */
static volatile size_t huge = SIZE_MAX - 8, half = SIZE_MAX / 2, ptrdiff_max = PTRDIFF_MAX;

static void edge_cases(void) {
    void *p = malloc(0);
    if (!p) fail("malloc(0) returned NULL", 0);
    free(p);
    free(NULL);

    p = realloc(NULL, 40);
    if (!p) fail("realloc(NULL, n)", 40);
    if (realloc(p, 0) != NULL) fail("realloc(p, 0) should free and return NULL", 0);

    errno = 0;
    if (calloc(half, 3) != NULL || errno != ENOMEM) fail("calloc overflow", 0);
    errno = 0;
    if (malloc(huge) != NULL || errno != ENOMEM) fail("malloc(huge)", 0);
    errno = 0;
    if (malloc(ptrdiff_max) != NULL || errno != ENOMEM) fail("malloc(ptrdiff_max)", 0);

    p = malloc(100);
    errno = 0;
    void *q = realloc(p, huge);
    if (q != NULL || errno != ENOMEM) fail("realloc(huge)", 0);
    free(p); /* still valid after a failed realloc */

    void *out = &out;
    if (posix_memalign(&out, 24, 8) != EINVAL) fail("posix_memalign odd alignment", 24);
    if (posix_memalign(&out, 4, 8) != EINVAL) fail("posix_memalign alignment < pointer", 4);
    if (out != &out) fail("posix_memalign wrote on failure", 0);

    /* free keeps errno, even for a block that goes back to the system */
    p = malloc(1 << 20);
    errno = 1234;
    free(p);
    if (errno != 1234) fail("free changed errno", 1 << 20);

    /* calloc of a recycled block is zeroed */
    unsigned char *dirty = malloc(256);
    memset(dirty, 0xff, 256);
    free(dirty);
    unsigned char *clean = calloc(1, 256);
    for (int i = 0; i < 256; i++)
        if (clean[i]) {
            fail("calloc of a recycled block", 256);
            break;
        }
    free(clean);

    /* a large realloc shrinking and growing again keeps the contents */
    unsigned char *big = malloc(300000);
    for (int i = 0; i < 300000; i++) big[i] = (unsigned char)i;
    big = realloc(big, 1000);
    big = realloc(big, 500000);
    for (int i = 0; i < 1000; i++)
        if (big[i] != (unsigned char)i) {
            fail("large realloc", 500000);
            break;
        }
    free(big);

    /* big alignments, from every size range */
    for (size_t a = 32; a <= (1 << 16); a <<= 1) {
        for (size_t size = 1; size < 400000; size = size * 9 + 3) {
            unsigned char *b = aligned_alloc(a, size);
            if (!b) {
                fail("aligned_alloc failed", size);
                continue;
            }
            check_aligned(b, a, "aligned_alloc alignment");
            if (malloc_usable_size(b) < size) fail("aligned usable size", size);
            memset(b, 0x5a, size);
            b = realloc(b, size + 100);
            for (size_t i = 0; i < size; i += 97)
                if (b[i] != 0x5a) {
                    fail("realloc of an aligned block", size);
                    break;
                }
            free(b);
        }
    }
}

int main(void) {
    edge_cases();
    for (int i = 0; i < OPS; i++) step(&slots[next() % SLOTS]);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p) release(&slots[i]);
    /* everything freed: reuse must work just as well */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < OPS / 4; i++) step(&slots[next() % SLOTS]);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p) release(&slots[i]);
    printf("failures %lu checksum %lx\n", failures, checksum);
    return failures != 0;
}
