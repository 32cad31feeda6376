"""Test hosts: network namespaces linked to this one by veth pairs on 198.18.0.0/15 (reserved
for tests), each running a real OpenSSH server, and the ssh config that reaches them by alias
(w1, w2, ...) with keys made here. Needs root. Everything made is removed on the way out.

The hosts share this machine's file system; `SshHost.mount` changes what one host sees
(a different params.yaml, other data, a disk of its own) inside its sshd's mount namespace,
which every session it serves inherits.
"""

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

TEST_NET = ipaddress.IPv4Network("198.18.0.0/15")
SSH_PORT = 2222
LIMIT_S = 10.0  # the bound of every wait here
TOOLS = ("ip", "sshd", "ssh", "ssh-keygen", "nsenter", "unshare", "mount")
SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if not shutil.which(tool, path=SBIN_PATH)]


def run(*argv, check=True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=LIMIT_S)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr}")
    return result.stdout


@dataclass
class SshHost:
    alias: str  # its name in the ssh config; it resolves nowhere else
    namespace: str
    address: str  # the host's end of its link
    gateway: str  # this namespace's end of the link
    sshd: subprocess.Popen

    def pids(self) -> set[int]:
        return {int(pid) for pid in run("ip", "netns", "pids", self.namespace).split()}

    def strays(self, limit_s: float = LIMIT_S) -> dict[int, str]:
        """What still runs here besides sshd's listener, after waiting up to limit_s for
        it to end (an sshd session ends 1-2 s after its connection)."""
        deadline = time.monotonic() + limit_s
        while (others := self.pids() - {self.sshd.pid}) and time.monotonic() < deadline:
            time.sleep(0.2)
        return {pid: command_line(pid) for pid in others}

    def worker_pid(self) -> int:
        found = [pid for pid in self.pids() if "fmnist.distributed worker" in command_line(pid)]
        assert len(found) == 1, f"expected one worker on {self.alias}, found {found}"
        return found[0]

    @contextmanager
    def mount(self, *args, target):
        """`mount *args target` for this host alone; unmounted afterwards."""
        enter = ("nsenter", f"--target={self.sshd.pid}", "--mount", "--")
        run(*enter, "mount", *map(str, args), str(target))
        try:
            yield
        finally:
            run(*enter, "umount", str(target))


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@dataclass
class SshHosts:
    hosts: list[SshHost]
    ssh_config: Path  # also has the aliases `refused` (w1, a key it does not accept) and
    user_key: Path  # `unreachable` (an address on w1's link that no host has)

    def __getitem__(self, index: int) -> SshHost:
        return self.hosts[index]


def free_subnets(count: int) -> list[ipaddress.IPv4Network]:
    """/24s of TEST_NET that no interface here uses, starting at a place given by the pid, so
    that test runs at the same time do not collide."""
    used = {
        ipaddress.IPv4Interface(word).network
        for line in run("ip", "-4", "-o", "addr", "show").splitlines()
        for word in line.split()[3:4]
    }
    subnets = list(TEST_NET.subnets(new_prefix=24))
    start = os.getpid() * 4 % len(subnets)  # 4 apart: runs in parallel (xdist) take up to 3
    return [s for s in subnets[start:] + subnets[:start] if not any(s.overlaps(u) for u in used)][
        :count
    ]


def keygen(path: Path) -> Path:
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fmnist-test", "-f", str(path))
    return path


def sshd_config(directory: Path, address: str, host_key: Path, authorized: Path) -> Path:
    config = directory / "sshd_config"
    config.write_text(
        f"ListenAddress {address}\nPort {SSH_PORT}\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPidFile none\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUseDNS no\nSubsystem sftp internal-sftp\n"
        "LogLevel ERROR\n"
    )
    return config


def wait_listening(address: str, limit_s: float = LIMIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            socket.create_connection((address, SSH_PORT), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def kill_everything_in(namespace: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while time.monotonic() < deadline:
        pids = run("ip", "netns", "pids", namespace, check=False).split()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.05)


def start_host(stack: ExitStack, index: int, subnet, directory: Path, authorized: Path):
    tag = f"{os.getpid()}-{index}"
    namespace, outer, inner = f"fmnist-{tag}", f"fmh{tag}", f"fmn{tag}"  # links: <= 15 chars
    gateway, address = str(subnet[1]), str(subnet[2])
    run("ip", "netns", "add", namespace)
    stack.callback(run, "ip", "netns", "delete", namespace, check=False)  # and its link end
    run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", namespace)
    stack.callback(run, "ip", "link", "delete", outer, check=False)
    run("ip", "addr", "add", f"{gateway}/24", "dev", outer)
    run("ip", "link", "set", outer, "up")
    inside = ("ip", "-n", namespace)
    run(*inside, "addr", "add", f"{address}/24", "dev", inner)
    run(*inside, "link", "set", inner, "up")
    run(*inside, "link", "set", "lo", "up")
    run(*inside, "route", "add", "default", "via", gateway)  # reaches all of this machine
    directory.mkdir()
    host_key = keygen(directory / "host_key")
    config = sshd_config(directory, address, host_key, authorized)
    log = stack.enter_context((directory / "sshd.log").open("wb"))  # closed with the host
    # unshare --mount: a mount namespace of its own, for SshHost.mount.
    sshd = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            shutil.which("sshd", path=SBIN_PATH),
            "-D",
            "-e",
            "-f",
            str(config),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.callback(sshd.wait, timeout=LIMIT_S)
    stack.callback(kill_everything_in, namespace)
    wait_listening(address)
    host = SshHost(f"w{index + 1}", namespace, address, gateway, sshd)
    return host, f"[{address}]:{SSH_PORT} {(directory / 'host_key.pub').read_text()}"


def client_config(
    directory: Path, hosts: list[SshHost], user_key: Path, stranger_key: Path, nobody: str
) -> Path:
    entries = [(h.alias, h.address, user_key) for h in hosts]
    entries += [("refused", hosts[0].address, stranger_key), ("unreachable", nobody, user_key)]
    config = directory / "ssh_config"
    config.write_text(
        "".join(
            f"Host {alias}\n  HostName {address}\n  IdentityFile {key}\n"
            for alias, address, key in entries
        )
        + (
            f"Host *\n  Port {SSH_PORT}\n  User root\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {directory / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
        )
    )
    return config


def remove_leftovers() -> None:
    """The namespaces (and with them their links and processes) of test runs that were
    killed outright, so that no finalizer ran: their pid is in the name."""
    for line in run("ip", "netns", "list").splitlines():
        found = re.match(r"(fmnist-(\d+)-\d+)\b", line)
        if found and not Path(f"/proc/{found.group(2)}").exists():
            kill_everything_in(found.group(1))
            run("ip", "netns", "delete", found.group(1), check=False)


@contextmanager
def ssh_hosts(directory: Path, count: int):
    """`count` test hosts, w1..w<count>; yields SshHosts."""
    remove_leftovers()
    # sshd's privilege-separation directory, normally made at boot; left in place (empty).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user_key, stranger_key = keygen(directory / "user_key"), keygen(directory / "stranger_key")
    authorized = directory / "authorized_keys"
    shutil.copy(directory / "user_key.pub", authorized)
    subnets = free_subnets(count)
    with ExitStack() as stack:
        started = [
            start_host(stack, i, subnets[i], directory / f"w{i + 1}", authorized)
            for i in range(count)
        ]
        hosts = [host for host, _ in started]
        (directory / "known_hosts").write_text("".join(line for _, line in started))
        config = client_config(directory, hosts, user_key, stranger_key, str(subnets[0][3]))
        yield SshHosts(hosts, config, user_key)
