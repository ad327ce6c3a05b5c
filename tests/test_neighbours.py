"""Candidates from the most similar training articles (param tasks.neighbours): who the neighbours are, what the
hint says, where the prompt puts it, and the params it accepts."""

import copy

import pytest

from pressft.config import parse_config
from pressft.data.neighbours import add_candidates, candidates, offered
from pressft.errors import UserError
from pressft.evaluation.baselines import nearest_tags
from pressft.model.chat import prompt_ids

DATE = "26 Jul 2024"
TOPICS = {  # each topic's words, so articles of one topic are each other's nearest
    "race": "race circuit lap driver podium grid",
    "plant": "plant production factory assembly line workers",
    "art": "art museum exhibition painting gallery culture",
}


def example(identifier: str, topic: str, rank: int, tags: list[str], article_type: str = "Press Release") -> list[dict]:
    text = f"{TOPICS[topic]} article {identifier}"
    common = {"id": identifier, "system": "s", "instruction": "List the tags.", "input": text, "rank": rank}
    return [{**common, "task": "tags", "answer": ", ".join(tags), "reference": tags},
            {**common, "task": "type", "answer": article_type, "reference": article_type}]


@pytest.fixture
def pool():
    return [*example("r1", "race", 0, ["Motorsport", "GT Racing"]),
            *example("p1", "plant", 1, ["Production", "Plant Munich"], "Press Kit"),
            *example("r2", "race", 2, ["motorsport", "DTM"]),
            *example("a1", "art", 3, ["Art Car"], "Speech"),
            *example("r3", "race", 4, ["Le Mans"])]  # beyond train_articles=4 below: never a neighbour


def hints(examples: list[dict], task: str) -> dict[str, str]:
    return {e["id"]: e["hint"] for e in examples if e["task"] == task}


def test_a_training_article_is_never_its_own_neighbour(pool):
    add_candidates(pool, pool, {"tags": 1}, train_articles=4)
    got = hints(pool, "tags")
    assert got["r1"] == "Tags of similar articles, most similar first:\n- motorsport, DTM"
    assert got["r2"] == "Tags of similar articles, most similar first:\n- Motorsport, GT Racing"
    assert all("type" not in e.get("hint", "") and e["task"] == "tags" for e in pool if "hint" in e)


def test_candidates_come_from_the_trained_articles_only_most_similar_first(pool):
    test = example("t1", "race", 0, ["Motorsport"])
    add_candidates(test, pool, {"tags": 3}, train_articles=4)
    lines = hints(test, "tags")["t1"].splitlines()
    assert lines[1:3] == ["- Motorsport, GT Racing", "- motorsport, DTM"]  # the two race articles first, in pool order
    assert len(lines) == 4 and "Le Mans" not in "\n".join(lines)  # r3 has rank 4: not a training article


def test_label_candidates_keep_one_line_per_neighbour():
    assert candidates("type", ["Speech", "Press Release", "Speech"]) == (
        "Types of similar articles, most similar first:\n- Speech\n- Press Release\n- Speech")


def test_offered_reads_back_what_a_hint_offers_each_once():
    hint = candidates("tags", [["BMW M Motorsport", "FIA WEC"], ["fia wec", "Le Mans"], []])
    assert offered(hint) == ["BMW M Motorsport", "FIA WEC", "Le Mans"]  # the heading is not a tag
    assert offered(candidates("type", ["Speech", "Press Release", "Speech"])) == ["Speech", "Press Release"]
    assert offered("") == []


def test_the_nearest_baseline_answers_the_first_candidate(pool):
    test = example("t1", "plant", 0, ["Production"])
    add_candidates(test, pool, {"tags": 2}, train_articles=4)
    from pressft.data.neighbours import fit_vectorizer

    train = [e for e in pool if e["task"] == "tags" and e["rank"] < 4]
    vectorizer = fit_vectorizer([e["input"] for e in train])
    answer = nearest_tags(vectorizer.transform([e["input"] for e in train]), [e["reference"] for e in train],
                          vectorizer.transform([test[0]["input"]]))
    assert hints(test, "tags")["t1"].splitlines()[1] == f"- {answer[0]}"


def test_the_hint_follows_the_cut_article_and_is_never_cut(tokenizer):
    long = {"id": "x", "task": "tags", "system": "s", "instruction": "List the tags.",
            "input": "The lap record fell at the circuit. " * 200,
            "hint": "Tags of similar articles, most similar first:\n- Motorsport, GT Racing"}
    plain = {key: value for key, value in long.items() if key != "hint"}
    ids, cut = prompt_ids(tokenizer, long, 160, DATE)
    text = tokenizer.decode(ids)
    assert cut > 0 and len(ids) <= 160
    assert "The lap record fell" in text and f"\n\n{long['hint']}\n\nList the tags." in text
    plain_ids, plain_cut = prompt_ids(tokenizer, plain, 160, DATE)
    assert plain_cut < cut  # the article gives way to the hint
    assert "similar articles" not in tokenizer.decode(plain_ids)


def test_neighbours_param_accepts_set_and_label_tasks_only(params):
    changed = copy.deepcopy(params)
    changed["tasks"]["neighbours"] = {"tags": 3, "type": 2}
    assert parse_config(changed, "tasks").tasks.neighbours == {"tags": 3, "type": 2}
    changed["tasks"]["neighbours"] = {"summarization": 3}
    with pytest.raises(UserError, match=r"^param tasks\.neighbours\.summarization: candidates are offered to the set "
                                        r"and label tasks only \(tags, type\); remove summarization$"):
        parse_config(changed, "tasks")
    changed["tasks"]["neighbours"] = {"tags": 0}
    with pytest.raises(UserError, match=r"tasks\.neighbours\.tags must be an integer >= 1"):
        parse_config(changed, "tasks")
