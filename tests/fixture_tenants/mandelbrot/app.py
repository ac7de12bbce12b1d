# CPU-bound: renders the Mandelbrot set as text on every request (~70k
# iterations of the inner loop), the shape of work an interpreter is slow at.

SHADES = " .:-=+*%@"


def mandelbrot(width, height, max_iter):
    rows = []
    for y in range(height):
        row = ""
        for x in range(width):
            cr = -2.2 + 3.2 * x / width
            ci = -1.2 + 2.4 * y / height
            zr = 0.0
            zi = 0.0
            k = 0
            while k < max_iter and zr * zr + zi * zi < 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                k += 1
            row += "#" if k == max_iter else SHADES[k % 9]
        rows.append(row)
    return "\n".join(rows) + "\n"


def on_client_request():
    return "text/plain", mandelbrot(72, 28, 64)
