// Floating-point loop: the Mandelbrot set on a grid, iterations summed.
// Usage: mandelbrot [size]   (size x size points, 256 iterations at most)
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int size = argc > 1 ? atoi(argv[1]) : 200;
    long total = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double cr = -2.2 + 3.2 * x / size, ci = -1.2 + 2.4 * y / size, zr = 0, zi = 0;
            int k = 0;
            while (k < 256 && zr * zr + zi * zi < 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                k++;
            }
            total += k;
        }
    printf("mandelbrot %d: %ld iterations\n", size, total);
    return 0;
}
