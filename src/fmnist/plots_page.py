"""The HTML page `dvc plots show` and `dvc plots diff` fill, with vega inlined: charts offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so offline it shows only the
PNGs. `plots.html_template` in .dvc/config names the file this module writes (set-up runs
`python -m fmnist.plots_page .dvc/plots_page.html`); it inlines the 0.9 MB script of
vl-convert-python, so the page works wherever `-o DIR` puts it. DVC fills `{plot_divs}` and
`{refresh_tag}` with str.replace (the script's own braces need no escaping); `{scripts}`, where
DVC would put its CDN tags, is left out.
"""

import argparse

from . import FmnistError
from .guards.atomic import write_text_atomic
from .guards.stage_runner import run_stage

# Relative to the project root; .dvc/config names it relative to .dvc/ (plots_page.html).
DEFAULT_PATH = ".dvc/plots_page.html"
# DVC's templates are vega-lite 5 specs (schema v5): compile them with the last 5.x.
VEGA_LITE_VERSION = "5.21"
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- {versions}, inlined from vl-convert-python by fmnist.plots_page -->
    <script type="text/javascript">
BUNDLE
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def vega_bundle() -> tuple[str, str]:
    """(the classic script defining window.vega, vegaLite and vegaEmbed, their versions)."""
    try:
        import vl_convert
    except ImportError:
        raise FmnistError(
            "vl-convert-python is not installed; install the pinned packages with `make venv`"
        ) from None
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    versions = (
        f"vega {vl_convert.get_vega_version()}, vega-lite {VEGA_LITE_VERSION}, "
        f"vega-embed {vl_convert.get_vega_embed_version()}"
    )
    return bundle, versions


def page_html(bundle: str, versions: str) -> str:
    # The script must neither end its <script> element early nor hold text DVC replaces.
    for forbidden in ("</script",) + PLACEHOLDERS:
        if forbidden in bundle.lower():
            raise FmnistError(
                f"the vega bundle of vl-convert-python contains '{forbidden}', "
                "so it cannot be inlined; use the version uv.lock pins"
            )
    return PAGE.replace("{versions}", versions).replace("BUNDLE", bundle)


def write_page(path) -> None:
    page = page_html(*vega_bundle())
    try:
        write_text_atomic(path, page)
    except OSError as exc:
        raise FmnistError(f"{path}: cannot write the plots page ({exc.strerror})") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "out",
        nargs="?",
        default=DEFAULT_PATH,
        help=f"where to write the page (default: {DEFAULT_PATH})",
    )
    args = parser.parse_args()
    write_page(args.out)
    print(f"plots_page: wrote {args.out}")


if __name__ == "__main__":
    run_stage("plots_page", main)
