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


def config():
    """The OpenBLAS build and the core it chose at run time, e.g. 'OpenBLAS 0.3.34 DYNAMIC_ARCH ... SkylakeX'."""
    return library.scipy_openblas_get_config().decode()


def set_num_threads(n):
    """OpenBLAS's own thread pool size (process-wide for the kernels' BLAS calls)."""
    library.scipy_openblas_set_num_threads(int(n))


def get_num_threads():
    return int(library.scipy_openblas_get_num_threads())
