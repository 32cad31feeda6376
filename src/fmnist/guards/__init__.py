"""The guards: what makes every stage trustworthy without being part of the lesson. One
instruction set and thread count for every computation (cpu), outputs written whole or not
at all (atomic), and one clear line instead of a traceback (stage_runner)."""


class FmnistError(Exception):
    """An error the user can fix; stages print its message without a traceback."""
