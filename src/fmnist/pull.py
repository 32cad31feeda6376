"""`make pull`: `dvc pull`, and when the DVC remote does not hold this commit's outputs (a
fresh clone whose remote is empty, or is a directory on another machine), one line saying
what to do instead of DVC's "Missing cache files: md5: ..." and "Checkout failed"."""

import subprocess
import sys

# What DVC 3.67 prints when the remote lacks files that this commit's dvc.lock names.
MISSING_SIGNS = ("Missing cache files", "Checkout failed")


def default_remote() -> tuple[str, str]:
    """(name, URL) of the default remote, a relative directory resolved as DVC does."""
    from dvc.repo import Repo

    config = Repo(".").config
    name = config["core"].get("remote", "")
    return name, config["remote"].get(name, {}).get("url", "(none set)")


def missing_outputs_message(name: str, url: str) -> str:
    return (
        f"make pull: the DVC remote '{name}' ({url}) does not hold this commit's data and "
        "models; recompute them with `make run`, or point the remote at shared storage "
        f"that holds them: dvc remote modify --local {name} url DIR_OR_URL"
    )


def main() -> int:
    pulled = subprocess.run([sys.executable, "-m", "dvc", "pull"], capture_output=True, text=True)
    if pulled.returncode == 0 or not any(sign in pulled.stderr for sign in MISSING_SIGNS):
        sys.stdout.write(pulled.stdout)
        sys.stderr.write(pulled.stderr)
        return pulled.returncode
    print(missing_outputs_message(*default_remote()), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
