/* The tenant ABI: system call numbers (register a7) and request field ids
 * shared by the host (cpp/sandbox) and the guest shim. Plain C, no code,
 * so both sides include this one file and cannot drift apart.
 *
 * The numbers sit far above Linux's so they can never collide with a real
 * system call that glibc might make. */
#ifndef MTD_ABI_H
#define MTD_ABI_H

/* Initialisation is done (glibc start-up and on_init ran). The host stops
 * the machine and keeps it as the tenant's master; every request resumes a
 * copy-on-write fork of it right after this call, which returns 0 there. */
#define MTD_ECALL_READY 0x4D00

/* a0 = HTTP status, a1/a2 = content type pointer/length, a3/a4 = body
 * pointer/length. Stops the machine; the host copies the answer out
 * (bounded, every byte checked). Never returns. */
#define MTD_ECALL_RESPOND 0x4D01

/* a0 = field id (below), a1 = destination, a2 = capacity. Copies
 * min(capacity, length) bytes and returns the field's full length, so a
 * guest can ask for the size first with capacity 0. */
#define MTD_ECALL_REQUEST_FIELD 0x4D02

#define MTD_FIELD_METHOD 0  /* "GET" */
#define MTD_FIELD_PATH 1    /* path without the query string */
#define MTD_FIELD_QUERY 2   /* the part after '?', without it */
#define MTD_FIELD_HOST 3    /* Host header, port included if sent */
#define MTD_FIELD_HEADERS 4 /* "name: value\n" per header, names lower-case */
#define MTD_FIELD_BODY 5

#endif
