"""The training articles most like an article, by TF-IDF cosine over a task's input: the nearest-article baseline
answers with them, and a task's prompt may offer their answers as candidates (param tasks.neighbours).

Candidates help where a task's answers repeat across articles from a vocabulary that the article text does not spell
out: PressClub tags ("BMW M Motorsport", "FIA WEC") are chosen from a house list, so the tags of the most similar
training article beat a model that reads the article alone. In the prompt, the model keeps, drops and adds to them.
"""

from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import NearestNeighbors

from pressft.tasks import get_task, parse_tags

Examples = list[dict[str, Any]]


def fit_vectorizer(texts: list[str]) -> TfidfVectorizer:
    # Sublinear tf: a word repeated throughout a long press kit should not outweigh the topic words.
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit(texts)


def nearest(train_features, features, k: int) -> list[list[int]]:
    """For each row of `features`, the indices of its k most similar training rows, most similar first (equally
    similar rows, such as duplicates, in the order sklearn's partial sort leaves them: the same on every run)."""
    index = NearestNeighbors(n_neighbors=min(k, train_features.shape[0]), metric="cosine", algorithm="brute")
    return index.fit(train_features).kneighbors(features, return_distance=False).tolist()


def candidates(task_name: str, answers: list[Any]) -> str:
    """The hint offering the neighbours' answers, one line per neighbour, most similar first: the model sees where
    the nearest article's answer ends and how often the others repeat an element (a label's votes)."""
    task = get_task(task_name)
    lines = [", ".join(answer) if task.kind == "set" else str(answer) for answer in answers]
    return f"{task.nouns[1].capitalize()} of similar articles, most similar first:\n" + "\n".join(
        f"- {line}" for line in lines)


def offered_lines(hint: str) -> list[str]:
    """The answers that a hint of `candidates` offers, one per neighbour, as written: its lines after the first."""
    return [line.removeprefix("- ") for line in hint.splitlines()[1:]]


def offered(hint: str) -> list[str]:
    """The elements that a hint of `candidates` offers, each once (first spelling kept)."""
    return parse_tags("\n".join(offered_lines(hint)))


def add_candidates(examples: Examples, pool: Examples, neighbours: dict[str, int], train_articles: int) -> None:
    """Give each example of the tasks in `neighbours` (task -> k) a `hint`: the answers of its k most similar
    training articles (the `pool` examples' first `train_articles` articles, as trained on). An example's own article
    is never among its neighbours, so training sees the candidates as test does: from other articles."""
    for name, k in neighbours.items():
        train = [e for e in pool if e["task"] == name and e["rank"] < train_articles]
        mine = [e for e in examples if e["task"] == name]
        if not train or not mine:
            continue
        vectorizer = fit_vectorizer([e["input"] for e in train])
        # One neighbour more than offered: a training example's own article comes back first and is dropped.
        found = nearest(vectorizer.transform([e["input"] for e in train]),
                        vectorizer.transform([e["input"] for e in mine]), k + 1)
        for example, rows in zip(mine, found, strict=True):
            chosen = [train[row] for row in rows if train[row]["id"] != example["id"]][:k]
            example["hint"] = candidates(name, [e["reference"] for e in chosen])
