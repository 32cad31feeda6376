"""How the launcher reaches gluon.hosts: OpenSSH's client, with the options a job needs.

A host is whatever ssh can reach: an address, a name, or an alias of the ssh config
(gluon.ssh_config, else ~/.ssh/config), which need not resolve anywhere else. ps-lite, though,
needs IP addresses, so one ssh round trip per host before anything starts (`probe_host`)
learns them from the connection itself, and fails with one line on a host that cannot work.
"""

import shlex
import subprocess
from dataclasses import dataclass

from . import DistributedError

# -4: ps-lite cannot bind IPv6. BatchMode: fail instead of asking for a password. The alive
# probes end an ssh (so the job) within 15 s of a host that vanished without closing.
SSH_OPTIONS = (
    "-4",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
)
PROBE_LIMIT_S = 20.0
NO_DIRECTORY, NO_PYTHON = 97, 98  # the probe's own exit codes


@dataclass(frozen=True)
class Route:
    here: str  # this machine's address as the host sees it: where it finds the scheduler
    there: str  # the host's address on that connection: where the server finds its worker


def ssh_argv(host: str, ssh_config: str, command: str) -> list[str]:
    """`--` before the host: even a host that slipped past validation is never an option.

    No -tt: a terminal would put its control sequences and CRLFs into the log. The remote
    process still ends with the ssh: a worker dies with its parent (fmnist.distributed
    .__main__), the remote sshd session, which exits when the connection closes."""
    config = ("-F", ssh_config) if ssh_config else ()
    return ["ssh", *SSH_OPTIONS, *config, "--", host, command]


def remote_command(cwd: str, env: dict, argv) -> str:
    """The shell command that runs argv in cwd with env on the other host."""
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return f"cd {shlex.quote(cwd)} && exec env {assignments} {shlex.join(argv)}"


def probe_host(host: str, ssh_config: str, cwd: str, python: str) -> Route:
    """One ssh round trip: the host answers with the key, has this repository's directory
    and interpreter at the same paths, and tells both ends' addresses ($SSH_CONNECTION)."""
    command = (
        f"cd {shlex.quote(cwd)} || exit {NO_DIRECTORY}; "
        f"test -x {shlex.quote(python)} || exit {NO_PYTHON}; echo $SSH_CONNECTION"
    )
    try:
        result = subprocess.run(
            ssh_argv(host, ssh_config, command),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=PROBE_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        raise unusable(host, f"no answer within {PROBE_LIMIT_S:g} s") from None
    except OSError as exc:
        raise DistributedError(f"cannot run ssh ({exc}); install the OpenSSH client") from None
    if result.returncode == NO_DIRECTORY:
        raise unusable(host, f"it has no directory {cwd}; clone this repository there")
    if result.returncode == NO_PYTHON:
        raise unusable(host, f"it has no {python}; run `make .venv/.installed` there")
    fields = (result.stdout.strip().splitlines() or [""])[-1].split()
    if result.returncode != 0 or len(fields) != 4:
        said = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        said = said.rstrip(".")
        raise unusable(host, f"ssh failed: {said}")
    return Route(here=fields[0], there=fields[2])


def unusable(host: str, why: str) -> DistributedError:
    return DistributedError(
        f"gluon.hosts: cannot start a worker on {host} ({why}). Every host needs ssh "
        "without a password (a key; port, user and key can be set in gluon.ssh_config), "
        "this repository at the same path with its .venv, and the prepared data"
    )
