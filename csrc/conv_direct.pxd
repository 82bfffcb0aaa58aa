# The direct float32 conv kernels of conv_direct.h, for the modules that run on them (conv, dense).
cdef extern from "conv_direct.h" nogil:
    enum:
        MG_CONV_OK
        MG_CONV_UNSUPPORTED
        MG_CONV_NOMEM
    ctypedef struct mg_geom:
        Py_ssize_t n, h, w, c, ph, pw, kh, kw, sh, sw, oh, ow, co
    int mg_conv_fwd(const float* x, mg_geom g, const float* w, const float* bias, int relu, float* y,
                    int nthreads, int allow_wide, int allow_winograd, int limit_weights)
    int mg_conv_dw(const float* x, mg_geom g, const float* dy, float* dw, int nthreads, int allow_wide,
                   int allow_winograd)
