"""The benchmarks' records (fmnist.bench_record): what they hold, that they are written whole
or not at all, that a bad one is refused in one line, and that docs/speed.md says what its
records say (cog: a changed record makes the check fail until the page is rewritten)."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PROJECT
from docs_outputs import run_cog
from fmnist.bench_record import (
    BENCH_RECORD,
    GLUON,
    LOOP_RECORD,
    NUMPY,
    SCRATCH,
    TUTORIAL,
    BenchRecord,
    LoopRecord,
    ProfileRow,
    Stopwatch,
    TreeTimes,
    bench_summary,
    bench_table,
    cpu_model,
    git_commit,
    loop_table,
    profile_table,
    read_record,
    run_line,
    write_record,
)
from fmnist.guards import FmnistError
from fmnist.guards.atomic import TEMP_GLOB

COMMAND = ["python", "-m", "fmnist.bench", "--rounds", "2"]


def bench_record(epochs=None, **fields) -> BenchRecord:
    epochs = epochs or {
        SCRATCH: [0.3, 0.1, 0.2],
        GLUON: [0.15, 0.1, 0.1],
        NUMPY: [0.05, 0.04],
        TUTORIAL: [4.0, 5.0],
    }
    header = Stopwatch().fields(COMMAND, "abc1234567")
    return BenchRecord(**header, samples=60_000, epochs=epochs, peak_rss_mb=700.4, **fields)


def tree(name: str, repro_s, **stage_s) -> TreeTimes:
    return TreeTimes(name=name, commit=f"{name}-commit", repro_s=repro_s, stage_s=stage_s)


def loop_record(*trees: TreeTimes) -> LoopRecord:
    header = Stopwatch().fields(["python", "-m", "fmnist.loop_bench"], trees[0].commit)
    return LoopRecord(**header, trees=list(trees))


def test_a_record_says_what_ran_when_and_on_what_machine(tmp_path):
    path, written = tmp_path / "bench.json", bench_record()
    write_record(path, written)
    held = json.loads(path.read_text())
    assert held["kind"] == "bench"
    assert held["command"] == "python -m fmnist.bench --rounds 2"
    assert held["commit"] == "abc1234567"
    assert held["started"] <= held["finished"] and held["started"].endswith("Z")  # UTC
    machine = held["machine"]
    assert machine["logical_cpus"] == os.cpu_count()
    assert machine["cpu"] == cpu_model() != "unknown"  # /proc/cpuinfo on Linux
    assert len(machine["load_at_start"]) == len(machine["load_at_end"]) == 3
    assert held["epochs"][SCRATCH] == [0.3, 0.1, 0.2]  # every epoch, in the order run
    assert read_record(path) == written


def test_the_cpu_model_is_the_first_model_name_of_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nmodel name\t: Other\n")
    assert cpu_model(cpuinfo) == "Some CPU @ 2.0GHz"
    cpuinfo.write_text("processor\t: 0\nfeatures\t: fp asimd\n")  # no model name (some ARM)
    assert cpu_model(cpuinfo) == "unknown"
    assert cpu_model(tmp_path / "missing") == "unknown"


def test_the_commit_says_when_the_code_measured_is_not_the_commit(tmp_path):
    assert git_commit(tmp_path) == "unknown"  # not a git work tree
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("a\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (tmp_path / "notes.md").write_text("b\n")  # not code: a record rewritten, a doc
    assert git_commit(tmp_path) == head
    (tmp_path / "src" / "m.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == f"{head} + changes"


def test_the_tables_are_computed_from_the_timings():
    record = bench_record()
    assert bench_table(record).splitlines()[2:4] == [
        "| pipeline, scratch | 0.200 | 0.100-0.300 | 0.300 | 3 | 300,000 |",
        "| pipeline, gluon (hybridized) | 0.100 | 0.100-0.150 | 0.150 | 3 | 600,000 |",
    ]
    assert bench_table(record, only="pipeline, s").splitlines()[2:] == [
        "| pipeline, scratch | 0.200 | 0.100-0.300 | 0.300 | 3 | 300,000 |"
    ]
    assert bench_summary(record) == (
        "speedup_vs_tutorial=45.0 scratch_speedup_vs_tutorial=22.5 scratch_to_gluon=2.00 "
        "ratio_to_numpy_bound=2.22 peak_rss_mb=700"
    )
    line = run_line(record)
    assert "`python -m fmnist.bench --rounds 2` at commit `abc1234567`" in line
    assert f"{record.machine.cpu} with {os.cpu_count()} logical CPUs" in line
    assert f"on {record.started:%Y-%m-%d} from {record.started:%H:%M} UTC" in line


def test_the_profile_table_pairs_the_two_threads_and_says_when_there_is_none():
    assert "without `--profile`" in profile_table(bench_record(), GLUON)
    rows = [
        ProfileRow(section="operator", name="FullyConnected", calls=236, total_ms=31.84),
        ProfileRow(section="operator", name="take", calls=2, total_ms=25.9),
        ProfileRow(section="MXNET_C_API", name="MXAutogradBackwardEx", calls=235, total_ms=23.3),
    ]
    lines = profile_table(bench_record(profile={GLUON: rows}), GLUON).splitlines()
    assert lines[2:] == [
        "| `FullyConnected` | 236 | 31.8 | `MXAutogradBackwardEx` | 235 | 23.3 |",
        "| `take` | 2 | 25.9 |  | |  |",
    ]


def test_the_loop_table_shows_each_stage_dvc_s_share_and_the_ratio():
    head = tree("HEAD", [10.0, 12.0, 11.0], train_gluon=[3.0, 4.0, 3.5], evaluate=[2.0, 2, 2])
    old = tree("main~3", [20.0, 22.0, 21.0], train_gluon=[3.0, 3, 3], export_onnx=[5.0, 5, 5])
    assert loop_table(loop_record(head)).splitlines() == [
        "| median of 3 | HEAD (`HEAD-commit`), s |",
        "|---|---|",
        "| train_gluon | 3.50 |",
        "| evaluate | 2.00 |",
        "| (dvc itself) | 5.50 |",
        "| dvc repro | 11.00 |",
        "",
        "DVC's own share of `dvc repro`: 50% on HEAD.",
    ]
    both = loop_table(loop_record(head, old)).splitlines()
    assert both[0] == "| median of 3 | HEAD (`HEAD-commit`), s | main~3 (`main~3-commit`), s |"
    assert both[2:7] == [
        "| train_gluon | 3.50 | 3.00 |",
        "| evaluate | 2.00 | - |",
        "| export_onnx | - | 5.00 |",  # a stage only the older revision has
        "| (dvc itself) | 5.50 | 13.00 |",
        "| dvc repro | 11.00 | 21.00 |",
    ]
    assert both[-2:] == [
        "DVC's own share of `dvc repro`: 50% on HEAD, 62% on main~3.",  # 5.5 / 11, 13 / 21
        "`dvc repro` on HEAD takes 0.52 times as long as on main~3.",  # 11 / 21
    ]


def test_a_record_written_over_an_old_one_on_a_full_disk_leaves_the_old_one(tmp_path, mounts):
    """The disk is real: a tmpfs of 8 KiB holds the old record, not the new, much longer one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts.tmpfs(disk, "8k")
    path = disk / "bench.json"
    write_record(path, bench_record())
    old = path.read_bytes()
    many = {name: [0.1] * 2000 for name in (SCRATCH, GLUON, NUMPY, TUTORIAL)}
    with pytest.raises(OSError) as raised:
        write_record(path, bench_record(epochs=many))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert path.read_bytes() == old
    assert list(disk.glob(TEMP_GLOB)) == []


BAD_RECORDS = {
    "not JSON": b"{",
    "another kind": b'{"kind": "speed"}',
    "a field missing": json.dumps({"kind": "bench-loop", "trees": []}).encode(),
}


@pytest.mark.parametrize("what", BAD_RECORDS)
def test_a_bad_record_is_refused_in_one_line_naming_it(tmp_path, what):
    path = tmp_path / "bench.json"
    path.write_bytes(BAD_RECORDS[what])
    with pytest.raises(FmnistError) as raised:
        read_record(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: not a benchmark record (") and "\n" not in message
    assert message.endswith("`make bench`, `make bench-loop` or `make sweep` writes it")


def test_a_bench_record_without_a_loop_the_summary_compares_is_refused(tmp_path):
    path = tmp_path / "bench.json"
    write_record(path, bench_record())
    held = json.loads(path.read_text())
    del held["epochs"][NUMPY]
    path.write_text(json.dumps(held))
    with pytest.raises(FmnistError, match="no timings of numpy forward"):
        read_record(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_are_a_record_or_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("record") / "r.json"
    path.write_bytes(data)
    try:
        read_record(path)
    except FmnistError as exc:
        assert "\n" not in str(exc)


def test_a_record_goes_only_where_a_directory_is_and_bench_says_so_before_timing():
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.bench", "--record", "/nonexistent/dir/b.json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "python -m fmnist.bench: error: argument --record: no directory /nonexistent/dir/ "
        "to write b.json in (--help lists the flags)\n"
    )


# The docs whose blocks read only the records: checked here in a second (test_docs.py checks
# every doc, running the commands the others show on the real data: minutes).
FROM_RECORDS = ["docs/speed.md", "docs/reproducibility.md"]


def test_the_docs_say_what_the_committed_records_say(monkeypatch):
    monkeypatch.chdir(PROJECT)
    assert BENCH_RECORD.is_file() and LOOP_RECORD.is_file()
    assert run_cog(["--check"], FROM_RECORDS) == 0, f"{FROM_RECORDS}: run `make docs`"


def test_a_changed_record_fails_the_check_until_the_page_is_rewritten(tmp_path, monkeypatch):
    for name in ("docs/speed.md", BENCH_RECORD, LOOP_RECORD):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    record = read_record(BENCH_RECORD)
    epochs = record.epochs | {SCRATCH: [9.87654] * len(record.epochs[SCRATCH])}
    write_record(BENCH_RECORD, record.model_copy(update={"epochs": epochs}))
    assert run_cog(["--check"], ["docs/speed.md"]) != 0
    assert run_cog(["-r"], ["docs/speed.md"]) == 0
    assert (
        "| pipeline, scratch | 9.877 | 9.877-9.877 | 9.877 |" in Path("docs/speed.md").read_text()
    )
    assert run_cog(["--check"], ["docs/speed.md"]) == 0
