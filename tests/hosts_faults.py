"""docs/failure-modes.md, "Hosts of a dist_sync job": each fault and its exact line
(tests/fault_lines.py says how the rows are used), asserted by tests/test_distributed.py,
tests/test_multihost.py and tests/test_params.py. The hosts are the tests' network
namespaces: w1 and the ssh aliases `refused` and `unreachable`."""

from fault_lines import Fault, Varies

SAME = "Same."
ADDRESS = r"198\.1[89]\.\d+\.\d+"  # the tests' namespaces (198.18.0.0/15)
TOOK = Varies("<s>", r"[0-9]+\.[0-9]")
PID = Varies("<pid>", r"\d+")
STOPPED = Varies("stopped scheduler, server 0, worker 0", r"stopped [a-z0-9, ]+")
CANNOT_START = (
    "train_gluon: error: gluon.hosts: cannot start a worker on {host} ({why}). Every host "
    "needs ssh without a password (a key; port, user and key can be set in gluon.ssh_config), "
    "this repository at the same path with its .venv, and the prepared data"
)
FAILED = "train_gluon: error: distributed training failed after {took} s: "
STOPS = (
    "; {stopped}. The output above has each process's lines prefixed with its name. ps-lite "
    "cannot carry on without a process: fix the cause and rerun."
)
SAME_DATA = (
    "give every host the same prepared data: `make pull` from the shared DVC remote, or a "
    "shared file system"
)
# What a worker says of its arrays (tests/test_distributed.py asserts it alone, too).
ARRAYS_DIFFER = (
    "{prepared} on this worker's host holds train_y.npy unlike its manifest.json (another "
    "sha256); " + SAME_DATA
)
HOSTS_RULE = (
    "params: gluon.hosts must be a list of distinct host names (RFC 1123, such as node-2 or "
    "node-2.example.org; ssh config aliases of that form too) or IPv4 addresses; IPv6 "
    "addresses are not supported by MXNet's parameter server, got "
)

HOSTS_FAULTS = {
    "too many hosts": Fault(
        "More hosts than remote workers in `gluon.hosts`",
        "gluon.hosts lists {hosts} host(s) but only {remote} worker(s) run on other hosts "
        "(gluon.workers is {workers}; worker 0 runs on this machine and writes the outputs); "
        "list at most gluon.workers - 1 hosts or raise gluon.workers",
        "Nothing starts.",
        ({"hosts": 2, "remote": 1, "workers": 2}, {"hosts": 1, "remote": 0, "workers": 1}),
        prefix="train_gluon: error: ",
        doc_examples=1,
    ),
    "host names": Fault(
        "A host that starts with `-` (read by ssh as an option: `-oProxyCommand=...`), an IPv6 "
        "address, a host listed twice",
        HOSTS_RULE + "{hosts!r} ({why})",
        "Refused when params.yaml is read; ssh also gets `--` before the host.",
        (
            {
                "hosts": ["-oProxyCommand=touch /tmp/x"],
                "why": "not a host: '-oProxyCommand=touch /tmp/x'",
            },
            {"hosts": ["::1"], "why": "not a host: '::1'"},
            {"hosts": ["w1", "W1"], "why": "'w1' is listed twice"},
        ),
        prefix="preprocess: error: ",
        elide_before="got ",
    ),
    "cannot start": Fault(
        "A host refuses the key, or cannot be reached",
        CANNOT_START,
        "One ssh round trip per host before anything starts (3 s for an unreachable host).",
        (
            {
                "host": "refused",
                "why": Varies(
                    "ssh failed: root@<address>: Permission denied (publickey)",
                    rf"ssh failed: root@{ADDRESS}: Permission denied \(publickey\)",
                ),
            },
            {
                "host": "unreachable",
                "why": Varies(
                    "ssh failed: ssh: connect to host <address> port 2222: No route to host",
                    rf"ssh failed: ssh: connect to host {ADDRESS} port 2222: No route to host",
                ),
            },
        ),
    ),
    "ssh config": Fault(
        "A `gluon.ssh_config` that does not exist",
        CANNOT_START.replace(
            "{why}", "ssh failed: Can't open user config file {config}: No such file or directory"
        ),
        "Same; ssh refuses before any connection.",
        ({"host": "w1", "config": "<ssh_config>"},),
    ),
    "no repository": Fault(
        "A host without the repository or its venv",
        CANNOT_START.replace("{why}", "it has no {kind}{path}; {todo}"),
        SAME,
        (
            {
                "host": "w1",
                "kind": "directory ",
                "path": "<job>",
                "todo": "clone this repository there",
            },
            {
                "host": "w1",
                "kind": "",
                "path": "<python>",
                "todo": "run `make .venv/.installed` there",
            },
        ),
        elide_before="(it has",
    ),
    "other data": Fault(
        "Other prepared data on a host",
        FAILED + "worker 1 on w1 (ssh pid {pid}) exited with code 1, saying: train_gluon "
        "worker: error: prepared on this worker's host is not the launcher's (manifest sha256 "
        "{here}... here, {there}... there); " + SAME_DATA + STOPS,
        "Workers compare `data/prepared/manifest.json`'s digest with the launcher's before "
        "training.",
        (
            {
                "took": TOOK,
                "pid": PID,
                "here": Varies("78b84482ce30", "[0-9a-f]{12}"),
                "there": Varies("ec016a9089c1", "[0-9a-f]{12}"),
                "stopped": STOPPED,
            },
        ),
    ),
    "other arrays": Fault(
        "Other arrays on a host under the same `manifest.json`",
        FAILED + "worker 1 on w1 (ssh pid {pid}) exited with code 1, saying: train_gluon "
        "worker: error: " + ARRAYS_DIFFER + STOPS,
        "Every worker hashes its four `.npy` files against the sha256 the manifest lists before "
        "joining; nothing trains.",
        ({"took": TOOK, "pid": PID, "prepared": "prepared", "stopped": STOPPED},),
    ),
    "worker killed": Fault(
        "A worker is killed (here or on its host)",
        FAILED + "{which} {how}" + STOPS,
        "Every process of the job is stopped, here and on the hosts.",
        (
            {
                "took": TOOK,
                "which": Varies(
                    "worker 1 on w1 (ssh pid <pid>)", r"worker 1 on w1 \(ssh pid \d+\)"
                ),
                "how": "ended with code 255 (its ssh lost the connection, or the process on w1 "
                "was killed)",
                "stopped": STOPPED,
            },
            {
                "took": TOOK,
                "which": Varies("worker 0 (pid <pid>)", r"worker 0 \(pid \d+\)"),
                "how": "was killed by signal SIGKILL",
                "stopped": "stopped scheduler, server 0, worker 1",
            },
        ),
    ),
    "finished early": Fault(
        "A worker finishes while others still train",
        "distributed training failed after {took} s: worker 1 (pid {pid}) finished training "
        "but worker 0 had not 5 s later (every worker must make the same number of steps, or "
        "ps-lite waits for ever)" + STOPS,
        "The job stops within seconds instead of waiting for `gluon.timeout_s`.",
        (
            {
                "took": TOOK,
                "pid": PID,
                "stopped": STOPPED,
            },
        ),
        prefix="train_gluon: error: ",
    ),
}
