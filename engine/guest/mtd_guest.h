/* Guest side of the tenant ABI, for tenants written in C or C++ and for the
 * shim that wraps Pythran-generated code. Each call is one `ecall`; see
 * mtd_abi.h for what the host does with it. */
#ifndef MTD_GUEST_H
#define MTD_GUEST_H

#include <stddef.h>
#include "mtd_abi.h"

static inline long mtd_ecall3(long number, long a0, long a1, long a2) {
    register long r_a0 __asm__("a0") = a0;
    register long r_a1 __asm__("a1") = a1;
    register long r_a2 __asm__("a2") = a2;
    register long r_a7 __asm__("a7") = number;
    __asm__ volatile("ecall" : "+r"(r_a0) : "r"(r_a1), "r"(r_a2), "r"(r_a7) : "memory");
    return r_a0;
}

/* Ends initialisation. Returns 0 in every request (each one resumes a fresh
 * fork of the machine as it was at this call). Outside mtd (a plain Linux
 * process, e.g. under qemu-riscv64) it returns -ENOSYS. */
static inline long mtd_ready(void) { return mtd_ecall3(MTD_ECALL_READY, 0, 0, 0); }

/* Answers the request and stops the machine: never returns. */
static inline __attribute__((noreturn)) void mtd_respond(int status, const char *content_type,
                                                          size_t content_type_len,
                                                          const char *body, size_t body_len) {
    register long r_a0 __asm__("a0") = status;
    register long r_a1 __asm__("a1") = (long)content_type;
    register long r_a2 __asm__("a2") = (long)content_type_len;
    register long r_a3 __asm__("a3") = (long)body;
    register long r_a4 __asm__("a4") = (long)body_len;
    register long r_a7 __asm__("a7") = MTD_ECALL_RESPOND;
    __asm__ volatile("ecall" : : "r"(r_a0), "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a4), "r"(r_a7)
                     : "memory");
    __builtin_unreachable();
}

/* Copies up to `capacity` bytes of a request field (MTD_FIELD_*) into `dest`
 * and returns the field's full length. */
static inline size_t mtd_request_field(int field, char *dest, size_t capacity) {
    return (size_t)mtd_ecall3(MTD_ECALL_REQUEST_FIELD, field, (long)dest, (long)capacity);
}

#endif
