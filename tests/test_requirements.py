"""The venv is exact: requirements.lock pins every package (the indirect ones too, since a
newer wheel can change output bytes), and agrees with every pin of requirements.txt."""

import re

from conftest import PROJECT

PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$")


def pins(name: str) -> dict:
    lines = [line.strip() for line in (PROJECT / name).read_text().splitlines()]
    wanted = [line for line in lines if line and not line.startswith("#")]
    found = {m.group(1).lower().replace("_", "-"): m.group(2) for m in map(PIN.match, wanted) if m}
    assert len(found) == len(wanted), f"{name}: every line must be NAME==VERSION"
    return found


def test_the_lock_pins_every_package_of_requirements_txt_at_the_same_version():
    direct, locked = pins("requirements.txt"), pins("requirements.lock")
    differ = {
        name: (version, locked.get(name))
        for name, version in direct.items()
        if locked.get(name) != version
    }
    assert not differ, f"run `make lock` after editing requirements.txt: {differ}"
