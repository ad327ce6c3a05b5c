"""Stage fetch: write the article corpus (embedded synthetic, or a local JSONL file) in one schema."""

import argparse
import json
from pathlib import Path

from pressft.errors import run_stage
from pressft.params import load_params
from pressft.sources import load_articles, write_jsonl
from pressft.splits import type_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args()
    data = load_params()["data"]
    articles, rejects = load_articles(data)
    out = Path(args.out)
    write_jsonl(articles, out / "articles.jsonl")
    write_jsonl(rejects, out / "rejects.jsonl")
    report = {
        "source": data["source"],
        "synthetic": data["source"] == "embedded",
        "input": data["path"] if data["source"] == "jsonl" else f"generated, seed {data['seed']}",
        "articles": len(articles),
        "rejected": len(rejects),
        "types": type_counts(articles),
    }
    (out / "fetch.json").write_text(json.dumps(report, indent=2) + "\n")
    label = " (SYNTHETIC corpus)" if report["synthetic"] else ""
    print(f"fetch: {len(articles)} articles{label}, {len(rejects)} rejected -> {out}; types {report['types']}")


if __name__ == "__main__":
    run_stage(main)
