// CPU-bound work: fib and a mandelbrot, the interpreter's benchmark shape.
#include <stdio.h>

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(int argc, char **argv) {
    int n = argc > 1 ? 30 : 24;
    printf("fib(%d) = %ld\n", n, fib(n));
    int inside = 0;
    for (int y = 0; y < 60; y++)
        for (int x = 0; x < 120; x++) {
            double cr = -2.0 + x * 3.0 / 120, ci = -1.2 + y * 2.4 / 60, zr = 0, zi = 0;
            int k = 0;
            while (k < 200 && zr * zr + zi * zi < 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                k++;
            }
            inside += k == 200;
        }
    printf("mandelbrot inside %d\n", inside);
    return 0;
}
