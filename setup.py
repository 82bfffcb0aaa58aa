"""Build the Cython kernels in csrc/ as extension modules of minigraph.kernels.

Environment switches:
  MINIGRAPH_DEBUG=1   bounds and wraparound checks back on, -O0 -g (for debugging and one CI run)
  MINIGRAPH_NATIVE=1  add -march=native (opt-in; the default build runs on any x86-64)
  MINIGRAPH_ONLY=a,b  build only csrc/a.pyx, csrc/b.pyx (development: rebuild one kernel quickly)
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("MINIGRAPH_DEBUG", "") not in ("", "0")
NATIVE = os.environ.get("MINIGRAPH_NATIVE", "") not in ("", "0")
ONLY = [name for name in os.environ.get("MINIGRAPH_ONLY", "").split(",") if name]


def compiler_has_openmp():
    """Try to compile and link a tiny OpenMP program; the build falls back to serial if it can't."""
    cc = os.environ.get("CC", "cc")
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        cmd = [cc, "-fopenmp", src, "-o", os.path.join(tmp, "t")]
        return subprocess.run(cmd, capture_output=True).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


OPENMP = sys.platform.startswith("linux") and compiler_has_openmp()
# -fno-math-errno: sqrt and friends compile to instructions (and vectorise) instead of libm calls that
# may set errno, which no kernel reads
compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-math-errno"]
link_args = []
if OPENMP:
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")
if NATIVE:
    compile_args.append("-march=native")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}



def uses_blas(path):
    """Whether a kernel cimports the BLAS wrapper, and so links scipy-openblas32's library."""
    with open(path) as f:
        return "from _blas cimport" in f.read()


def extension(path):
    # the library is linked by name only: minigraph.kernels loads it from the installed scipy-openblas32
    # package before any kernel, since the build environment that held it at link time may be gone
    blas = uses_blas(path)
    return Extension(
        "minigraph.kernels." + os.path.splitext(os.path.basename(path))[0],
        [path],
        include_dirs=[np.get_include(), "csrc"] + ([scipy_openblas32.get_include_dir()] if blas else []),
        library_dirs=[scipy_openblas32.get_lib_dir()] if blas else [],
        libraries=[scipy_openblas32.get_library()] if blas else [],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/*.pxd")),  # C helpers and cimports
    )


extensions = [
    extension(path)
    for path in sorted(glob.glob("csrc/*.pyx"))
    if not ONLY or os.path.splitext(os.path.basename(path))[0] in ONLY
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["csrc"],
        compiler_directives=directives,
        compile_time_env={"MINIGRAPH_OPENMP": OPENMP},
        force=DEBUG,
    )
)
