/* Batch-normalisation loops for csrc/batchnorm.pyx: one instance of batchnorm_impl.h per element type. */
#ifndef MINIGRAPH_BATCHNORM_H
#define MINIGRAPH_BATCHNORM_H

#include <stddef.h>
#include "mg_simd.h"

#define MG_BN_T float
#define MG_BN(name) mg_bn_##name##_f32
#include "batchnorm_impl.h"
#define MG_BN_T double
#define MG_BN(name) mg_bn_##name##_f64
#include "batchnorm_impl.h"

#endif
