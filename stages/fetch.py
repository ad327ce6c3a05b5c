"""Stage fetch: read raw articles from the configured source, clean and validate them, drop duplicates,
and write the corpus, the rejects with their reasons, the provenance and the data report."""

import argparse
from pathlib import Path

from pressft.data.cleaning import clean_corpus, data_report
from pressft.config import load_config
from pressft.errors import UserError, run_stage
from pressft.io import write_json, write_jsonl
from pressft.data.sources import read_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output folder: articles.jsonl, rejects.jsonl, fetch.json")
    parser.add_argument("--cache", required=True, help="folder the pressclub source keeps fetched articles in")
    parser.add_argument("--report", required=True, help="data report JSON (a DVC metric)")
    args = parser.parse_args()
    data = load_config("data").data
    raw, unreadable, provenance = read_source(data, args.cache)
    articles, rejects, stripped = clean_corpus(raw, data.min_content_words, data.max_chars)
    rejects = unreadable + rejects
    report = {"source": data.source, "synthetic": data.source == "embedded"}
    report |= data_report(len(raw) + len(unreadable), articles, rejects, stripped)
    out = Path(args.out)
    write_jsonl(articles, out / "articles.jsonl")
    write_jsonl(rejects, out / "rejects.jsonl")
    write_json(report | {"provenance": provenance}, out / "fetch.json")
    write_json(report, args.report, ensure_ascii=False)
    label = " (SYNTHETIC corpus)" if report["synthetic"] else ""
    reasons = ", ".join(f"{reason} {count}" for reason, count in report["rejected_by_reason"].items())
    print(
        f"fetch: {report['records_read']} records read{label}: {len(articles)} kept, {report['rejected']} rejected"
        f"{f' ({reasons})' if reasons else ''}, {report['duplicates']} duplicates; types {report['types']}"
    )
    if report["boilerplate_stripped"]:
        print(f"fetch: boilerplate stripped (articles): {report['boilerplate_stripped']}")
    if rejects:
        print(f"fetch: reasons per record in {out / 'rejects.jsonl'}")
    if not articles:
        raise UserError(f"no valid articles in the {data.source} source ({len(rejects)} rejected, see {out / 'rejects.jsonl'})")


if __name__ == "__main__":
    run_stage(main)
