"""What MXNet 1.9.1 needs to import on Python 3.12, and nothing more.

MXNet is retired (no release after 1.9.1) and declares numpy < 2. Python 3.12 needs numpy
1.26 (1.26.4 is the first numpy with wheels for it), and numpy 1.24 removed the aliases
numpy.bool, .int, .float, .complex, .object and .str, which MXNet 1.9.1 still uses when it is
imported. Until numpy 1.24 each alias was the builtin itself, so binding them back to the
builtins gives MXNet what it was written against; with numpy < 1.24 (Python 3.11) nothing is
touched. Python 3.12 also has no distutils, which MXNet imports: setuptools (pinned in
pyproject.toml) provides it. Trained on 3.12 this way, both models have the bytes of 3.11.

fmnist/__init__.py applies this before anything imports mxnet, and after the CPU pinning,
since numpy reads its variables when it loads (every stage imports numpy anyway).
"""

REMOVED_IN_NUMPY_1_24 = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "object": object,
    "str": str,
}


def restore_numpy_aliases() -> None:
    """On numpy >= 1.24 only: bind the aliases MXNet 1.9.1 uses back to the builtins."""
    import numpy

    if tuple(int(part) for part in numpy.__version__.split(".")[:2]) < (1, 24):
        return
    for name, builtin in REMOVED_IN_NUMPY_1_24.items():
        setattr(numpy, name, builtin)
