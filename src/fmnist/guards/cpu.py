"""One instruction-set level for every computation, so the same inputs give the same bytes on
any x86-64 CPU with AVX2.

oneDNN (inside MXNet) and numpy pick their kernels by the CPU they run on, and AVX-512
kernels sum in another order: on an AVX-512 machine the models differed from an AVX2
machine's in the 9th digit. Capped at AVX2, both gave the same models, metrics and PNGs,
at no measurable cost (`make bench`). Both libraries read these variables once, when they are
loaded, so fmnist/__init__.py applies them before anything imports mxnet or numpy.
"""

import os
import warnings

ISA = "AVX2"
# numpy's dispatch targets above AVX2 (numpy 1.23). Disabling one the CPU lacks only warns.
NUMPY_ABOVE_AVX2 = (
    "AVX512F",
    "AVX512CD",
    "AVX512_KNL",
    "AVX512_KNM",
    "AVX512_SKX",
    "AVX512_CLX",
    "AVX512_CNL",
    "AVX512_ICL",
)


def cap_instruction_sets() -> None:
    os.environ["DNNL_MAX_CPU_ISA"] = ISA
    os.environ["NPY_DISABLE_CPU_FEATURES"] = " ".join(NUMPY_ABOVE_AVX2)
    # numpy warns about each listed feature this CPU does not have: true, and not news.
    warnings.filterwarnings(
        "ignore", message="During parsing environment variable", category=RuntimeWarning
    )


def cpu_flags(cpuinfo="/proc/cpuinfo") -> set:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def missing_isa_warning(flags: set) -> str | None:
    """A line for stages on a CPU the guarantee does not cover, else None."""
    if "avx2" in flags and "fma" in flags:
        return None
    return (
        "warning: this CPU has no AVX2/FMA: results are valid but their bytes will differ "
        "from those committed (reproducibility needs x86-64 with AVX2; see docs)"
    )
