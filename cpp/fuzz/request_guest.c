/* The tenant behind fuzz_request: built at fuzz-build time with
 * riscv64-linux-gnu-gcc -static -nostdlib -ffreestanding (no glibc: its
 * start-up is not what this target fuzzes). Every request reads a control block from
 * the start of the body, then every request field into a buffer with the
 * capacity the control block chose (sometimes with hostile pointers or
 * capacities), and answers with a status, content type and body made of
 * parts of what it read (sometimes out of bounds or oversized), so the
 * fuzzer drives both directions of the tenant ABI. */
#include <stddef.h>
#include <stdint.h>

#include "mtd_guest.h"

#define NFIELDS 6
#define CAP 8192

static char bufs[NFIELDS][CAP];
static char out[NFIELDS * CAP];

/* Control block (first 16 body bytes, zero if shorter):
 *   [0..11]  capacity per field, little-endian u16 (clamped to CAP unless mode bit 1)
 *   [12]     mode bits
 *   [13]     status low byte, [14] content-type length, [15] field id for mode bit 2 */
static void copy(char *dst, const char *src, size_t n) {
    while (n--) *dst++ = *src++;
}

static __attribute__((noreturn)) void exit_with(long code) {
    register long a0 __asm__("a0") = code;
    register long a7 __asm__("a7") = 93; /* exit */
    __asm__ volatile("ecall" : : "r"(a0), "r"(a7));
    __builtin_unreachable();
}

static int serve(void);

void _start(void) { exit_with(mtd_ready() != 0 ? 0 : serve()); }

static int serve(void) {
    unsigned char ctl[16] = {0};
    mtd_request_field(MTD_FIELD_BODY, (char *)ctl, sizeof ctl);
    const unsigned mode = ctl[12];
    size_t got[NFIELDS];
    for (int f = 0; f < NFIELDS; ++f) {
        size_t cap = (size_t)ctl[2 * f] | (size_t)ctl[2 * f + 1] << 8;
        size_t full = mtd_request_field(f, bufs[f], 0); /* size first */
        if (!(mode & 2) && cap > CAP) cap = CAP;
        if ((mode & 2) && full <= CAP) cap = (size_t)-1; /* huge capacity, field fits */
        size_t len = mtd_request_field(f, bufs[f], cap);
        if (len != full) return 3; /* the ABI says: full length every time */
        got[f] = len < cap ? len : cap;
    }
    if (mode & 4) /* an unknown field id */
        (void)mtd_request_field(ctl[15] + NFIELDS, bufs[0], CAP);
    if (mode & 8) /* a destination the guest does not own: must be a contained fault */
        (void)mtd_request_field(MTD_FIELD_PATH, (char *)(uintptr_t)0x10, 64);
    size_t n = 0;
    for (int f = 0; f < NFIELDS; ++f) {
        copy(out + n, bufs[f], got[f]);
        n += got[f];
    }
    int status = 100 + ctl[13] * 2;
    size_t ct_len = ctl[14] < got[4] ? ctl[14] : got[4];
    const char *body = out;
    size_t body_len = n;
    if (mode & 16) body_len = (size_t)1 << 40;           /* larger than any limit */
    if (mode & 32) body = (const char *)(uintptr_t)0x8;  /* unmapped */
    if (mode & 64) status = -ctl[13];                    /* nonsense status */
    if (mode & 128) return (int)n;                       /* exit without answering */
    mtd_respond(status, bufs[4], ct_len, body, body_len);
}
