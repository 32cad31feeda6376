"""Faults and the exact line each gives, in one place: docs/failure-modes.md shows the rows of
tests/*_faults.py (tests/docs_outputs.py writes them into its cog blocks, `make docs`), and
the tests that make each fault for real assert these very lines. To document another fault,
add a row, assert it in the test that makes it, and run `make docs`. (Bad values in
params.yaml, tests/params_faults.py, have rows of their own shape: each is also a params.yaml
line.)

A line is a template: its `{field}`s are the variable parts. Each example fills them with the
values of one case a test makes, and the doc shows every example's line; a test gives its own
values where they differ (a path the doc writes as `<picture>` or `<mirror>`). A value that
differs from run to run (a time, a pid, an address) is a `Varies`: the doc shows its value
from a real run, or a marked placeholder, and the tests match its pattern."""

import re
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Varies:
    """An example's value that differs from run to run: `shown` in the doc, `pattern` (a
    regex) in the tests."""

    shown: str
    pattern: str

    def __format__(self, spec: str) -> str:
        return format(self.shown, spec)


@dataclass(frozen=True)
class Fault:
    what: str  # what went wrong, as the doc says it
    line: str | None  # the exact line, a template; None: no line (`shown` says what instead)
    happens: str  # what happens then
    examples: tuple[dict, ...] = ({},)  # the values of the cases the tests make
    shown: str = ""  # for a row without a line: what the doc shows in its place
    prefix: str = ""  # what the doc shows before the line the tests get (`fetch: error: `)
    # The doc shows the first example whole, and the others from here on, after `...`.
    elide_before: str = ""
    doc_examples: int | None = None  # how many examples the doc shows (None: all)

    def shown_lines(self) -> list[str]:
        """The examples' lines as the doc shows them."""
        count = len(self.examples) if self.doc_examples is None else self.doc_examples
        lines = [self.prefix + self.message(i) for i in range(count)]
        if self.elide_before:
            lines[1:] = ["... " + line[line.index(self.elide_before) :] for line in lines[1:]]
        return lines

    def message(self, example: int = 0, **values) -> str:
        """The line of example `example`, with `values` in place of the doc's."""
        return self.line.format(**{**self.examples[example], **values})

    def pattern(self, example: int = 0, **values) -> str:
        """A regex of the line: each `Varies` value (unless `values` gives it) as its pattern,
        a named group, every other part exactly."""
        known = {**self.examples[example], **values}
        parts, grouped = [], set()
        for literal, name, spec, conversion in string.Formatter().parse(self.line):
            parts.append(re.escape(literal))
            if name is None:
                continue
            if isinstance(known[name], Varies):
                group = f"(?P={name})" if name in grouped else f"(?P<{name}>{known[name].pattern})"
                parts.append(group)
                grouped.add(name)
            else:
                value = known[name] if conversion != "r" else repr(known[name])
                parts.append(re.escape(format(value, spec)))
        return "".join(parts)

    def match(self, text: str, example: int = 0, **values) -> re.Match | None:
        """text as the line, its varying parts as named groups; None if it is not the line."""
        return re.fullmatch(self.pattern(example, **values), text)

    def matches(self, text: str, example: int = 0, **values) -> bool:
        return self.match(text, example, **values) is not None
