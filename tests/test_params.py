"""params.yaml is validated before any work: each bad value gives one message that names
the key and what is allowed."""
import copy
import json
import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fmnist.distributed.ssh import ssh_argv
from fmnist.params import ParamsError, is_host, load_params, params_json, parse_params

from conftest import PROJECT

GOOD = yaml.safe_load((PROJECT / "params.yaml").read_text())


def with_change(section: str, key: str, value) -> dict:
    raw = copy.deepcopy(GOOD)
    raw[section][key] = value
    return raw


def test_the_projects_params_yaml_is_valid():
    params = load_params(PROJECT / "params.yaml")
    assert params.train.batch_size == 256 and params.train.lr == 0.1


# (section, key, bad value, the whole message)
BAD_VALUES = {
    "lr zero": ("train", "lr", 0, "params: train.lr must be > 0, got 0"),
    "lr negative": ("train", "lr", -0.1, "params: train.lr must be > 0, got -0.1"),
    "lr not a number": ("train", "lr", "fast",
                        "params: train.lr must be a number (> 0), got 'fast'"),
    "lr written 1e-3": ("train", "lr", "1e-3", "params: train.lr must be a number (> 0), got "
                        "'1e-3'; YAML reads 1e-3 as text, write it as 0.001"),
    "batch_size zero": ("train", "batch_size", 0,
                        "params: train.batch_size must be >= 1, got 0"),
    "batch_size float": ("train", "batch_size", 25.6,
                         "params: train.batch_size must be an integer (>= 1), got 25.6"),
    "epochs zero": ("train", "epochs", 0, "params: train.epochs must be >= 1, got 0"),
    "epochs a string": ("train", "epochs", "five",
                        "params: train.epochs must be an integer (>= 1), got 'five'"),
    "epochs a boolean": ("train", "epochs", True,
                         "params: train.epochs must be an integer (>= 1), got True"),
    "scratch.init unknown": ("scratch", "init", "xavier", "params: scratch.init must be one of "
                             "'normal', 'uniform', 'zeros', got 'xavier'"),
    "gluon.init unknown": ("gluon", "init", "Xavier", "params: gluon.init must be one of "
                           "'normal', 'uniform', 'zeros', got 'Xavier'"),
    "lr_schedule unknown": ("train", "lr_schedule", "step", "params: train.lr_schedule must be "
                            "one of 'constant', 'cosine', got 'step'"),
    "timeout_s zero": ("fetch", "timeout_s", 0, "params: fetch.timeout_s must be > 0, got 0"),
}
MIRRORS_RULE = ("params: fetch.mirrors must be a non-empty list of local directories and "
                "http:// or https:// URLs (ftp://, file:// and other schemes are not accepted), "
                "got ")
BAD_MIRRORS = {
    "ftp": ["/usr/share/datasets/fashion-mnist", "ftp://ftp.example.org/fashion"],
    "file": ["file:///usr/share/datasets/fashion-mnist"],
    "no host": ["http:///fashion"],
    "empty list": [],
    "not a string": [42],
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_names_the_key_and_what_is_allowed(case):
    section, key, value, message = BAD_VALUES[case]
    with pytest.raises(ParamsError) as error:
        parse_params(with_change(section, key, value))
    assert str(error.value) == message


@pytest.mark.parametrize("case", BAD_MIRRORS)
def test_only_http_https_and_local_mirrors_are_accepted(case):
    mirrors = BAD_MIRRORS[case]
    with pytest.raises(ParamsError) as error:
        parse_params(with_change("fetch", "mirrors", mirrors))
    assert str(error.value) == MIRRORS_RULE + repr(mirrors)


def test_https_and_relative_mirrors_are_accepted():
    mirrors = ["https://example.org/fashion", "HTTP://example.org/x", "data/mirror", "~/fmnist"]
    params = parse_params(with_change("fetch", "mirrors", mirrors))
    assert params.fetch.mirrors == ("https://example.org/fashion", "HTTP://example.org/x",
                                    "data/mirror", "~/fmnist")


def test_an_unknown_key_names_it_and_the_allowed_keys():
    raw = with_change("train", "learning_rate", 0.1)
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value) == ("params: unknown key train.learning_rate; allowed keys in "
                                "'train': batch_size, epochs, lr, lr_schedule, momentum, "
                                "weight_decay, seed")


def test_an_unknown_section_names_it_and_the_allowed_sections():
    raw = copy.deepcopy(GOOD)
    raw["evaluate"] = {"batch_size": 256}
    with pytest.raises(ParamsError, match="^params: unknown section 'evaluate'; allowed "
                                          "sections: fetch, train, scratch, gluon$"):
        parse_params(raw)


def test_a_missing_key_names_it_and_the_keys_needed():
    raw = copy.deepcopy(GOOD)
    del raw["gluon"]["init"]
    with pytest.raises(ParamsError, match="^params: missing key gluon.init; 'gluon' needs all "
                                          "of: init, init_scale, kvstore, workers, hosts, "
                                          "ssh_config, timeout_s$"):
        parse_params(raw)


def test_invalid_yaml_is_one_clear_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match=f"^params: {path} is not valid YAML"):
        load_params(path)


def test_a_stage_reports_bad_params_in_one_line_before_any_work(small_project):
    project = small_project
    project.set_params(train={"lr": 0})
    result = project.dvc("repro", "fetch", check=False)
    assert result.returncode != 0
    assert "fetch: error: params: train.lr must be > 0, got 0\n" in result.stderr
    assert "Traceback" not in result.stderr
    assert "fetch: trying" not in result.stderr  # no mirror was touched
    assert not (project.root / "data/raw").exists()


HOSTS_RULE = ("params: gluon.hosts must be a list of distinct host names (RFC 1123, such as "
              "node-2 or node-2.example.org; ssh config aliases of that form too) or IPv4 "
              "addresses; IPv6 addresses are not supported by MXNet's parameter server, got ")


@pytest.mark.parametrize("hosts", [["node-2"], ["node-2.example.org", "w1"], ["198.18.0.2"],
                                   ["localhost", "127.0.0.1"], ["a" * 63], ["9host.lan"]])
def test_host_names_and_ipv4_addresses_are_accepted(hosts):
    assert parse_params(with_change("gluon", "hosts", hosts)).gluon.hosts == tuple(hosts)


@pytest.mark.parametrize("hosts", [
    ["-oProxyCommand=touch /tmp/x"], ["-p"], ["node_2"], ["node 2"], ["node-"], ["::1"],
    ["fe80::1"], ["[::1]"], ["root@node"], [""], ["a" * 64], ["1.2.3.999"], ["n;rm -rf /"],
    ["node."], ["w1", "W1"], [42]])
def test_hosts_that_ssh_could_misread_or_ps_lite_cannot_use_are_refused(hosts):
    with pytest.raises(ParamsError) as error:
        parse_params(with_change("gluon", "hosts", hosts))
    assert str(error.value) == HOSTS_RULE + repr(hosts)


@given(st.text(max_size=300) | st.text(alphabet="aZ09-._:@ ;[]/=\n", max_size=80))
def test_an_accepted_host_is_one_plain_ssh_argument(name):
    """Whatever the text, an accepted host is an address or dotted letters, digits and
    hyphens, and reaches ssh after `--`, as one argument."""
    if not is_host(name):
        return
    assert not name.startswith("-") and len(name) <= 253
    assert re.fullmatch(r"[A-Za-z0-9.-]+", name)
    argv = ssh_argv(name, "", "true")
    assert argv[argv.index("--") + 1] == name


@given(st.from_regex(r"\A([a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.){0,3}"
                     r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?\Z"))
def test_rfc_1123_names_are_accepted(name):
    """(The last label must not be all digits: 127.1 would be read as an IPv4 address.)"""
    assert is_host(name)


def test_ssh_config_is_a_path_or_empty():
    assert parse_params(with_change("gluon", "ssh_config", "")).gluon.ssh_config == ""
    assert parse_params(with_change("gluon", "ssh_config", "ci/ssh config")).gluon.ssh_config \
        == "ci/ssh config"
    with pytest.raises(ParamsError, match=r"^params: gluon.ssh_config must be a string"):
        parse_params(with_change("gluon", "ssh_config", None))


def test_params_reach_workers_as_json_unchanged():
    params = load_params(PROJECT / "params.yaml")
    assert parse_params(json.loads(params_json(params))) == params
