/* Math functions for `real`: the float build calls the float versions (expf,
 * ...) so nothing is silently promoted to double; the double build calls the
 * double ones. */
#ifndef ADVSSL_REALMATH_H
#define ADVSSL_REALMATH_H

#include <math.h>

#include "advssl.h"

#ifdef ADV_DOUBLE
#define R_EXP exp
#define R_LOG log
#define R_LOG1P log1p
#define R_SQRT sqrt
#define R_TANH tanh
#define R_FABS fabs
#define R_NEXTAFTER nextafter
#else
#define R_EXP expf
#define R_LOG logf
#define R_LOG1P log1pf
#define R_SQRT sqrtf
#define R_TANH tanhf
#define R_FABS fabsf
#define R_NEXTAFTER nextafterf
#endif

/* plain comparisons (not fmax/fmin) so they vectorise */
#define R_MAX(a, b) ((a) > (b) ? (a) : (b))
#define R_MIN(a, b) ((a) < (b) ? (a) : (b))

#endif
