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

The environment is closed by family, not by the variables tried: MXNet reads dozens of
MXNET_* variables (its env_var FAQ), oneDNN DNNL_*/ONEDNN_* (and the older MKLDNN_*),
OpenBLAS OPENBLAS_*/GOTO*, the OpenMP runtimes OMP_*/GOMP_*/KMP_*, numpy NPY_*/NUMPY_*. Any
of them not pinned here is removed, so every library runs with the defaults the committed
bytes came from: MXNET_MKLDNN_ENABLED=0 alone gave another gluon.params.

OpenBLAS (bundled in MXNet's wheel, on the scratch model's `dot` path) picks its kernel from
the CPU: Haswell, Zen and SkylakeX give the committed bytes, Cooperlake and Prescott others,
and 0.3.13 falls back to Cooperlake on every AVX512-BF16 CPU it does not know by model (recent
Intel Xeons, AMD Zen 5). Its Haswell kernel is the one that matches the AVX2 cap; forcing it
on a CPU without AVX2 would stop on an illegal instruction, so there it is left to choose.
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
OPENBLAS_KERNEL = "Haswell"  # OpenBLAS's AVX2+FMA kernel: the committed bytes
CLOSED_FAMILIES = (
    "MXNET_",
    "NNVM_",  # MXNet's graph executor (NNVM_EXEC_MATCH_RANGE)
    "DNNL_",
    "ONEDNN_",
    "MKLDNN_",
    "OPENBLAS_",
    "GOTO",  # OpenBLAS's older names: GOTO_NUM_THREADS, GOTOBLAS_MAIN_FREE
    "OMP_",
    "GOMP_",
    "KMP_",
    "MKL_",
    "NPY_",
    "NUMPY_",
)
# What pin_computation set, and what the user's environment said where it differed: name ->
# their value (replaced when the name is pinned, else removed).
pinned: dict[str, str] = {}
overridden: dict[str, str] = {}


def pinned_values(flags: set) -> dict[str, str]:
    if "avx2" in flags and "fma" in flags:
        return {**PINNED, "OPENBLAS_CORETYPE": OPENBLAS_KERNEL}
    return dict(PINNED)


def close_environment(environ, pins: dict[str, str]) -> dict[str, str]:
    """Set pins in environ and remove every other variable of the closed families; returns
    what the user had set otherwise."""
    changed = {
        name: value
        for name, value in environ.items()
        if name.startswith(CLOSED_FAMILIES) and pins.get(name) != value
    }
    for name in changed:
        del environ[name]
    environ.update(pins)
    return changed


def pin_computation() -> None:
    pinned.update(pinned_values(cpu_flags()))
    overridden.update(close_environment(os.environ, pinned))
    # numpy warns about each listed feature this CPU does not have: true, and not news.
    warnings.filterwarnings(
        "ignore", message="During parsing environment variable", category=RuntimeWarning
    )


def override_notice() -> str | None:
    """One line naming every variable replaced or removed, or None."""
    if not overridden:
        return None
    said = sorted(overridden.items())
    replaced = [f"{n}={v[:40]!r} by {pinned[n]!r}" for n, v in said if n in pinned]
    removed = [f"{n}={v[:40]!r}" for n, v in said if n not in pinned]
    parts = [f"replaced {', '.join(replaced)}"] * bool(replaced)
    parts += [f"removed {', '.join(removed)}"] * bool(removed)
    return (
        f"note: {'; '.join(parts)}: every computation runs on one thread with AVX2 kernels "
        "and the libraries' defaults, as the committed results did (docs/reproducibility.md)"
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
