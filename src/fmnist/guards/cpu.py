"""One instruction-set level and one thread for every computation, so the same inputs give
the same bytes on any x86-64 CPU with AVX2, whatever its core count.

oneDNN (inside MXNet) and numpy pick their kernels by the CPU they run on, and AVX-512
kernels sum in another order: on an AVX-512 machine the models differed from an AVX2
machine's in the 9th digit. Capped at AVX2, both gave the same models, metrics and PNGs.

MXNet splits each operator over an OpenMP team of OMP_NUM_THREADS (or MXNET_OMP_MAX_THREADS)
threads, and by default of half the machine's logical CPUs; every team size sums in another
order: 1, 2, 3, 4 and 8 threads gave 5 different models. The committed bytes came from one
thread, so every computing process runs with one (the cost: docs/reproducibility.md).

The libraries read these variables once, when they are loaded, so fmnist/__init__.py applies
them before anything imports mxnet or numpy; processes a stage starts (dist_sync workers)
inherit them. A value the user set otherwise is replaced, and the stage says so
(stage_runner), since a silent override would hide why a setting has no effect.
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
PINNED = {
    "DNNL_MAX_CPU_ISA": ISA,
    "NPY_DISABLE_CPU_FEATURES": " ".join(NUMPY_ABOVE_AVX2),
    "OMP_NUM_THREADS": "1",
    "MXNET_OMP_MAX_THREADS": "1",  # MXNet reads it before OMP_NUM_THREADS
    "MXNET_CPU_WORKER_NTHREADS": "1",  # the engine's CPU worker threads
    "OPENBLAS_NUM_THREADS": "1",  # numpy's BLAS, should a matrix product reach it
    "MKL_NUM_THREADS": "1",
}
# What the user's environment said where it differed: name -> their value.
overridden: dict[str, str] = {}


def pin_computation() -> None:
    for name, value in PINNED.items():
        before = os.environ.get(name)
        if before is not None and before != value:
            overridden[name] = before
        os.environ[name] = value
    # numpy warns about each listed feature this CPU does not have: true, and not news.
    warnings.filterwarnings(
        "ignore", message="During parsing environment variable", category=RuntimeWarning
    )


def override_notice() -> str | None:
    """One line naming every variable replaced, or None."""
    if not overridden:
        return None
    replaced = ", ".join(
        f"{name}={value[:40]!r} by {PINNED[name][:16]!r}" for name, value in overridden.items()
    )
    return (
        f"note: replaced {replaced}: every computation runs on one thread with AVX2 "
        "kernels, as the committed results did (docs/reproducibility.md)"
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
