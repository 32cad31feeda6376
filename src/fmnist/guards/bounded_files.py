"""Small files read whole, with a bound. A path the user gives (params.yaml, a model file)
may name a FIFO (open would wait for a writer for ever), a device (/dev/zero grows memory
until MemoryError) or something far larger than any file of this project. So: refused from
its stat before it is opened, opened without blocking, checked again as opened (it may have
been replaced in between), and read once, at most one byte past the bound. Each caller says
what went wrong in its own words."""

import os
import stat

KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISSOCK: "a socket",
}


class NotRegularFile(OSError):
    """The path is something else than a regular file: `kind` says what."""

    def __init__(self, path, kind: str):
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


class TooLarge(OSError):
    """The file holds more bytes than the bound: `size` says how many (at least)."""

    def __init__(self, path, size: int, limit: int):
        super().__init__(f"{path} holds {size} bytes, more than {limit}")
        self.size = size


def file_kind(mode: int) -> str | None:
    """What a file of this mode is, if it is not a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in KINDS.items() if test(mode)), "not a regular file")


def refuse(path, mode: int, size: int, limit: int) -> None:
    if kind := file_kind(mode):
        raise NotRegularFile(path, kind)
    if size > limit:
        raise TooLarge(path, size, limit)


def read_bounded(path, limit: int) -> bytes:
    """The bytes of the regular file at path, of at most limit bytes. Raises
    FileNotFoundError, NotRegularFile, TooLarge (both OSErrors), or another OSError."""
    info = os.stat(path)
    refuse(path, info.st_mode, info.st_size, limit)
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        info = os.fstat(file.fileno())
        refuse(path, info.st_mode, info.st_size, limit)
        data = file.read(limit + 1)
    refuse(path, info.st_mode, len(data), limit)
    return data
