"""Per-article splits: a fixed test and validation set, and a seeded train pool whose prefixes are the training sets."""

from collections import Counter
from typing import Any

from sklearn.model_selection import train_test_split

from pressft.config import check_train_size
from pressft.data.cleaning import fingerprints
from pressft.errors import UserError


def _strata(articles: list[dict[str, Any]], size: int) -> list[str] | None:
    """Type labels to stratify a split of `size` on; None where stratifying is impossible.

    Types with a single article are pooled into one stratum; if that is still too rare, or the split
    is smaller than the number of strata, the split is plain random (and says so).
    """
    counts = Counter(article["type"] for article in articles)
    labels = [article["type"] if counts[article["type"]] >= 2 else "(rare)" for article in articles]
    strata = Counter(labels)
    if min(strata.values()) >= 2 and len(strata) <= size <= len(articles) - len(strata):
        return labels
    print(f"split: {size} of {len(articles)} articles drawn without stratification (types {dict(counts)})")
    return None


def split_articles(articles: list[dict[str, Any]], test: int, val: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """{'test', 'val', 'pool'}: disjoint, stratified by type, independent of the input order and of train.size.

    The pool comes in a seeded random order, so taking its first N articles gives nested training sets
    (the 500 are inside the 1000) whose type mix follows the pool's.
    """
    if test + val >= len(articles):
        raise UserError(
            f"params split.test + split.val ({test + val}) leave no training articles out of the {len(articles)} "
            "valid ones; lower them, or bring more data (rejects and their reasons: data/raw/rejects.jsonl)"
        )
    ordered = sorted(articles, key=lambda article: article["id"])
    rest, test_set = train_test_split(ordered, test_size=test, random_state=seed, stratify=_strata(ordered, test))
    pool, val_set = train_test_split(rest, test_size=val, random_state=seed, stratify=_strata(rest, val))
    return {"test": test_set, "val": val_set, "pool": pool}


def type_counts(articles: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(article["type"] for article in articles).items()))


def exclude_types(articles: list[dict[str, Any]], excluded: list[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Articles whose type is not excluded, and how many of each excluded type were left out."""
    kept = [article for article in articles if article["type"] not in excluded]
    return kept, type_counts([article for article in articles if article["type"] in excluded])


def guard_leakage(splits: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Drop pool articles that share a URL, a normalised title or the content with a test or validation article.

    The pool's order is kept, so training sets stay nested. Returns the guarded splits and the count per key.
    """
    held_out: dict[str, set[str]] = {"url": set(), "title": set(), "content": set()}
    for article in splits["test"] + splits["val"]:
        for kind, key in fingerprints(article).items():
            held_out[kind].add(key)
    pool, removed = [], {kind: 0 for kind in held_out}
    for article in splits["pool"]:
        # An empty key (an article without a title) matches nothing.
        clash = next((kind for kind, key in fingerprints(article).items() if key and key in held_out[kind]), None)
        if clash:
            removed[clash] += 1
        else:
            pool.append(article)
    return {**splits, "pool": pool}, removed


def pool_articles(pool: list[dict[str, Any]]) -> int:
    """The training pool's articles, from its task examples: build_tasks numbers the articles by `rank`, and an article
    may give no example of some task (no tags, say), so its examples' ids could undercount them."""
    return max((example["rank"] for example in pool), default=-1) + 1


def training_examples(pool: list[dict[str, Any]], size: int | None) -> list[dict[str, Any]]:
    """The examples of the first `size` pool articles (all of them for None): the training set, before the LLM's class
    balancing."""
    size = check_train_size(size, pool_articles(pool))
    return [example for example in pool if example["rank"] < size]
