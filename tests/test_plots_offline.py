"""`dvc plots show` and `dvc plots diff` pages render every chart with the network blocked,
in Debian's headless Chromium, with the confusion matrices in label order."""

import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest
from dvc_render.vega_templates import ConfusionTemplate

from conftest import PROJECT
from fmnist import FmnistError
from fmnist.guards.atomic import TEMP_GLOB
from fmnist.lesson.fashion_mnist import CLASS_NAMES
from fmnist.plots_page import page_html

CHARTS = (
    "Training_loss_per_epoch",
    "Train_accuracy_per_epoch",
    "Validation_loss_per_epoch",
    "Validation_accuracy_per_epoch",
    "Confusion_matrix__scratch_model",
    "Confusion_matrix__gluon_model",
)
TEMPLATE = PROJECT / ".dvc" / "plots" / "confusion_label_order.json"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=15000",
    "--window-size=1280,2400",
)


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.geteuid() != 0:
            pytest.skip(
                "Debian's chromium is not installed and this is not root "
                "(`make test` as root installs it)"
            )
        pytest.fail(
            "chromium is not installed although this runs as root: `make test` "
            "installs Debian's chromium (apt-get install chromium)"
        )
    return path


def run_chromium(page, tmp_path, *action) -> str:
    """One headless Chromium run on `page` with a fresh profile and DNS blocked; its stdout.
    Its own process group, killed whole if it hangs past the time limit."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    args = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    ) as process:
        try:
            out, _ = process.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # helpers left behind, if any
    assert process.returncode == 0, f"chromium exited {process.returncode}"
    return out


def chart_section(dom: str, chart_id: str) -> str:
    """The DOM from the chart's div (DVC names it after the plot's title) to the next chart's."""
    return dom.split(f'<div id="{chart_id}"', 1)[1].split('<div id="', 1)[0]


def rendered_charts(dom: str) -> list:
    """Ids of the chart divs in which vega drew its `marks` element (SVG with vega-embed 7,
    canvas with older ones)."""
    ids = re.findall(r'<div id="([^"]+)" class="vega-embed', dom)
    return [
        chart_id
        for chart_id in ids
        if re.search(r'<(?:svg|canvas)[^>]*class="marks"', chart_section(dom, chart_id))
    ]


def axis_label_lists(dom: str, chart_id: str) -> list:
    """The label texts of every axis of one chart, each list in drawing order."""
    groups = re.findall(
        r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', chart_section(dom, chart_id)
    )
    return [re.findall(r"<text[^>]*>([^<]*)</text>", group) for group in groups]


def check_page_renders(html_dir, tmp_path) -> str:
    page = html_dir / "index.html"
    assert "cdn.jsdelivr" not in page.read_text()
    dom = run_chromium(page, tmp_path, "--dump-dom")
    assert rendered_charts(dom) == list(CHARTS), rendered_charts(dom)
    assert len(re.findall(r'<(?:svg|canvas)[^>]*class="marks"', dom)) == len(CHARTS)
    for chart in CHARTS[4:]:  # the confusion matrices
        # Every test class is on the true-class axis; a class no image was predicted as is
        # missing from the predicted-class axis, the others keep their order.
        class_axes = [
            labels
            for labels in axis_label_lists(dom, chart)
            if len(labels) > 1 and set(labels) <= set(CLASS_NAMES)
        ]
        assert len(class_axes) >= 2 and list(CLASS_NAMES) in class_axes, (chart, class_axes)
        for labels in class_axes:
            assert labels == [name for name in CLASS_NAMES if name in labels]
    screenshot = tmp_path / f"{html_dir.name}.png"
    run_chromium(page, tmp_path, f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot of the rendered page: {screenshot}")
    return dom


@pytest.mark.expensive(
    "a pipeline run, then `dvc plots show` and `diff` rendered in a real Chromium"
)
def test_plots_show_and_diff_render_offline_in_label_order(reproduced_project, tmp_path):
    project = reproduced_project
    project.commit("baseline run")
    # -o outside the project: the page carries its scripts, not a path back to the project.
    show_dir = tmp_path / "elsewhere" / "show"
    project.dvc("plots", "show", "-o", str(show_dir))
    check_page_renders(show_dir, tmp_path)

    project.set_params(train={"lr": 0.01})
    project.dvc("repro")
    diff_dir = tmp_path / "elsewhere" / "diff"
    project.dvc("plots", "diff", "HEAD", "-o", str(diff_dir))
    dom = check_page_renders(diff_dir, tmp_path)
    for revision in ("HEAD", "workspace"):  # both runs drawn, in the legends or facets
        assert f">{revision}</text>" in dom


def test_confusion_template_is_dvcs_with_the_classes_in_label_order():
    template = json.loads(TEMPLATE.read_text())
    encoding = template["spec"]["encoding"]
    assert encoding["x"]["sort"] == encoding["y"]["sort"] == list(CLASS_NAMES)
    dvc_default = copy.deepcopy(ConfusionTemplate.DEFAULT_CONTENT)
    for axis in ("x", "y"):
        dvc_default["spec"]["encoding"][axis]["sort"] = list(CLASS_NAMES)
    assert template == dvc_default


def test_plots_page_command_writes_a_page_dvc_can_fill(tmp_path, plots_page):
    out = tmp_path / "page.html"
    subprocess.run(
        [sys.executable, "-m", "fmnist.plots_page", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    page = out.read_text()
    assert out.read_bytes() == plots_page.read_bytes()  # the same bytes every time
    assert "{plot_divs}" in page and "{scripts}" not in page and "vegaEmbed" in page
    assert not list(tmp_path.glob(TEMP_GLOB))


def test_plots_page_command_gives_one_line_when_it_cannot_write(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.plots_page", str(tmp_path / "a-file" / "page.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("plots_page: error: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("bundle", ["a {plot_divs} b", "a {scripts}", "x</SCRIPT>y"])
def test_a_bundle_that_cannot_be_inlined_is_refused(bundle):
    with pytest.raises(FmnistError, match="cannot be inlined"):
        page_html(bundle, "vega test")
