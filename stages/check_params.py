"""Stage check_params: check every param of params.yaml before any other stage runs.

DVC removes a stage's outputs before it runs the stage's command, so a bad value that only the stage itself
checked would cost the workspace that stage's outputs (a trained adapter, say). This stage runs first, on any
change to params.yaml, and every other stage sits downstream of it (`fetch` depends on its output). Its output's
bytes never change, so passing it reruns nothing else.
"""

import argparse
from pathlib import Path

from pressft.config import load_config
from pressft.errors import run_stage

# What the output holds, whatever the params: `fetch` depends on it only to order the stages.
PASSED = "params.yaml passed every check of pressft.config\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="file written when every param passes (its bytes never change)")
    args = parser.parse_args()
    config = load_config()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(PASSED, encoding="utf-8")
    print(f"check_params: params.yaml passed every check (source {config.data.source}, model {config.model.base})")


if __name__ == "__main__":
    run_stage(main)
