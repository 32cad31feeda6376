"""params.yaml is validated before any work: each bad value gives one message that names
the key and what is allowed."""
import copy

import pytest
import yaml

from fmnist.params import ParamsError, load_params, parse_params

from conftest import PROJECT

GOOD = yaml.safe_load((PROJECT / "params.yaml").read_text())


def with_change(section: str, key: str, value) -> dict:
    raw = copy.deepcopy(GOOD)
    raw[section][key] = value
    return raw


def test_the_projects_params_yaml_is_valid():
    params = load_params(PROJECT / "params.yaml")  # whatever values it holds
    assert (params.train.batch_size, params.train.lr) == (GOOD["train"]["batch_size"],
                                                          GOOD["train"]["lr"])


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
                                          "of: init, init_scale, kvstore, workers, hosts, timeout_s$"):
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
