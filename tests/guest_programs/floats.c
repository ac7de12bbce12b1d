// Floating point: every rounding mode, NaN and infinity, fflags, conversions
// with RISC-V's saturating semantics, and printf of floats.
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

static volatile double dv[] = {0.0, -0.0, 1.0, -1.5, 2.5, 3.5, 1e300, -1e-300, 1.0 / 3.0,
                               INFINITY, -INFINITY, NAN, 4294967296.5, -9.3e18, 9.3e18, 0.49999999999999994};
static volatile float fv[] = {0.0f, -0.0f, 1.5f, -2.5f, 1e38f, 1e-45f, INFINITY, NAN, 16777217.0f};
static const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};

int main(void) {
    int nd = sizeof dv / sizeof dv[0], nf = sizeof fv / sizeof fv[0];
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        for (int i = 0; i < nd; i++) {
            double a = dv[i], b = dv[(i + 3) % nd];
            feclearexcept(FE_ALL_EXCEPT);
            double s = a + b, p = a * b, q = a / b, r = sqrt(fabs(a)), f = fma(a, b, 1.0);
            float narrowed = (float)a;
            long long ll = (long long)a;  // cvt.l.d rtz
            long long lr = llrint(a);     // cvt.l.d dyn
            unsigned long long ul = (unsigned long long)a;
            int w = (int)a;
            unsigned uw = (unsigned)a;
            printf("%d %d %a %a %a %a %a %a %lld %lld %llu %d %u %x %d %d\n", m, i, s, p, q, r, f,
                   (double)narrowed, ll, lr, ul, w, uw, fetestexcept(FE_ALL_EXCEPT),
                   isnan(a) ? 1 : 0, fpclassify(a));
        }
        for (int i = 0; i < nf; i++) {
            float a = fv[i], b = fv[(i + 2) % nf];
            feclearexcept(FE_ALL_EXCEPT);
            printf("f %d %d %a %a %a %a %a %a %d %lld %x\n", m, i, (double)(a + b), (double)(a * b),
                   (double)(a / b), (double)sqrtf(fabsf(a)), (double)fminf(a, b),
                   (double)fmaxf(a, b), (int)a, (long long)llrintf(a),
                   fetestexcept(FE_ALL_EXCEPT));
        }
    }
    fesetround(FE_TONEAREST);
    printf("%.17g %.9g %g %e %f\n", M_PI, (float)M_E, 1e-320, 6.02214076e23, -0.0);
    printf("%d %d %d\n", 1.0 < NAN, NAN == NAN, isinf(-INFINITY));
    printf("%a %a\n", fmin(NAN, 1.0), fmax(-0.0, 0.0));
    double acc = 0;
    for (int i = 1; i < 1000; i++) acc += sin(i) * exp(-i / 300.0) + log((double)i);
    printf("acc %.15g\n", acc);
    return 0;
}
