// Memory-bound: an open-addressing hash table of 2^slots_log2 64-bit slots
// (16 MiB at the default 21), filled to half with pseudo-random keys, then
// probed with as many lookups, half of them misses. Random access over a
// table far larger than the caches. Usage: hashtable [slots_log2]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t next(uint64_t *s) {  // xorshift64*
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

int main(int argc, char **argv) {
    int bits = argc > 1 ? atoi(argv[1]) : 21;
    size_t slots = (size_t)1 << bits, mask = slots - 1, n = slots / 2;
    uint64_t *table = calloc(slots, sizeof *table);
    if (!table) return 1;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = next(&seed) | 1;  // 0 marks an empty slot
        size_t h = (key * 0x9E3779B97F4A7C15ull) >> (64 - bits);
        while (table[h] && table[h] != key) h = (h + 1) & mask;
        table[h] = key;
    }
    seed = 0x9E3779B97F4A7C15ull;
    uint64_t other = 12345;
    size_t found = 0, probes = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (i & 1 ? next(&other) : next(&seed)) | 1;
        if (i & 1) next(&seed);  // keep the inserted sequence in step
        size_t h = (key * 0x9E3779B97F4A7C15ull) >> (64 - bits);
        while (table[h]) {
            probes++;
            if (table[h] == key) {
                found++;
                break;
            }
            h = (h + 1) & mask;
        }
    }
    printf("hashtable 2^%d: %zu of %zu found, %zu probes\n", bits, found, n, probes);
    free(table);
    return 0;
}
