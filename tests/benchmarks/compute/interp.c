// Integer, branchy: a small stack-machine interpreter (a switch per opcode)
// running a bytecode program that sums the Collatz sequence lengths of
// 1..n. Usage: interp [n]
#include <stdio.h>
#include <stdlib.h>

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, DIV2, AND1, LT, JZ, JMP, DUP, POP, HALT };

typedef struct { int op, arg; } insn;

// locals: 0 = i, 1 = n, 2 = x, 3 = total
enum { END = 34, NEXT = 29, EVEN = 21, STOREX = 23, INNER = 8, OUTER = 2 };
static const insn program[] = {
    /*  0 */ {PUSH, 1}, {STORE, 0},                            // i = 1
    /*  2 */ {LOAD, 0}, {LOAD, 1}, {LT, 0}, {JZ, END},          // while i < n:
    /*  6 */ {LOAD, 0}, {STORE, 2},                            //   x = i
    /*  8 */ {PUSH, 1}, {LOAD, 2}, {LT, 0}, {JZ, NEXT},         //   while 1 < x:
    /* 12 */ {LOAD, 2}, {AND1, 0}, {JZ, EVEN},                  //     if x & 1:
    /* 15 */ {LOAD, 2}, {PUSH, 3}, {MUL, 0}, {PUSH, 1}, {ADD, 0}, {JMP, STOREX},  // 3x + 1
    /* 21 */ {LOAD, 2}, {DIV2, 0},                             //     else: x / 2
    /* 23 */ {STORE, 2},
    /* 24 */ {LOAD, 3}, {PUSH, 1}, {ADD, 0}, {STORE, 3}, {JMP, INNER},  // total += 1
    /* 29 */ {LOAD, 0}, {PUSH, 1}, {ADD, 0}, {STORE, 0}, {JMP, OUTER},  // i += 1
    /* 34 */ {HALT, 0},
};

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 30000;
    long locals[4] = {0, n, 0, 0}, stack[64];
    int sp = 0, pc = 0;
    long steps = 0;
    for (;;) {
        insn in = program[pc++];
        steps++;
        switch (in.op) {
        case PUSH: stack[sp++] = in.arg; break;
        case LOAD: stack[sp++] = locals[in.arg]; break;
        case STORE: locals[in.arg] = stack[--sp]; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case DIV2: stack[sp - 1] /= 2; break;
        case AND1: stack[sp - 1] &= 1; break;
        case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case JZ: if (!stack[--sp]) pc = in.arg; break;
        case JMP: pc = in.arg; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case POP: sp--; break;
        case HALT: goto done;
        }
    }
done:
    printf("interp %ld: total %ld, %ld bytecodes\n", n, locals[3], steps);
    return 0;
}
