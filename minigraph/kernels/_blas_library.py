"""Load the OpenBLAS the kernels link against before any kernel module is imported.

The kernels name scipy-openblas32's library without a path (the build environment that held it may be
gone); loading it here, globally, lets the dynamic linker satisfy them with the installed package's copy.
"""
import ctypes
import os

import scipy_openblas32

library_path = os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True))
library = ctypes.CDLL(library_path, mode=ctypes.RTLD_GLOBAL)
library.scipy_openblas_get_config.restype = ctypes.c_char_p
# single-threaded: the kernels split large products over their own OpenMP team (csrc/_blas.pxd)
library.scipy_openblas_set_num_threads(1)


def config():
    """The OpenBLAS build and the core it chose at run time, e.g. 'OpenBLAS 0.3.34 DYNAMIC_ARCH ... SkylakeX'."""
    return library.scipy_openblas_get_config().decode()



def get_num_threads():
    """OpenBLAS's own pool size: 1, since the kernels' OpenMP team runs the parallel products."""
    return int(library.scipy_openblas_get_num_threads())
