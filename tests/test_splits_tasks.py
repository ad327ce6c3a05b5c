"""Per-article splits (fixed test/val, nested train prefixes, stratified by type) and the four task examples."""

import random
from collections import Counter

import pytest

from pressft.errors import UserError
from pressft.data.cleaning import fingerprints
from pressft.data.splits import exclude_types, guard_leakage, split_articles, training_examples, type_counts
from pressft.tasks import REGISTRY, get_task, make_examples, repeated_labels
from pressft.model.training import label_repeats, select_training


def ids(articles) -> list[str]:
    return [article["id"] for article in articles]


@pytest.fixture
def hundred(normalised_articles):
    corpus = normalised_articles(100)
    assert type_counts(corpus) == {"Fact & Figures": 5, "Press Kit": 10, "Press Release": 80, "Speech": 5}
    return corpus


# ------------------------------------------------------------------ exclusion and the leakage guard


def test_exclude_types_removes_them_and_counts(hundred):
    kept, excluded = exclude_types(hundred, ["Fact & Figures", "Speech"])
    assert excluded == {"Fact & Figures": 5, "Speech": 5}
    assert type_counts(kept) == {"Press Kit": 10, "Press Release": 80}
    assert exclude_types(hundred, []) == (hundred, {})


def _held_out_keys(split) -> dict[str, set[str]]:
    keys = {"url": set(), "title": set(), "content": set()}
    for article in split["test"] + split["val"]:
        for kind, key in fingerprints(article).items():
            keys[kind].add(key)
    return keys


def test_leakage_guard_removes_pool_copies_of_held_out_articles(hundred):
    split = split_articles(hundred, test=20, val=10, seed=42)
    test_article, val_article = split["test"][0], split["val"][0]
    victims = split["pool"][:3]
    # A republished article: other URL, same title (other case and punctuation); another with the same
    # content under a new title; and one under a held-out article's URL with a trailing slash.
    victims[0] |= {"title": test_article["title"].upper() + "!", "url": "https://press.example/republished"}
    victims[1] |= {"content": "  " + val_article["content"].lower(), "title": "A new headline"}
    victims[2] |= {"url": test_article["url"].replace("https://www.", "https://WWW.") + "/"}
    guarded, removed = guard_leakage(split)
    assert removed == {"url": 1, "title": 1, "content": 1}
    assert ids(guarded["pool"]) == ids(split["pool"][3:])  # order kept: training prefixes stay nested
    assert guarded["test"] is split["test"] and guarded["val"] is split["val"]
    held_out = _held_out_keys(guarded)
    for article in guarded["pool"]:
        for kind, key in fingerprints(article).items():
            assert key not in held_out[kind], (kind, article["id"])


def test_leakage_guard_does_not_match_articles_by_a_missing_title(hundred):
    split = split_articles(hundred, test=20, val=10, seed=42)
    for article in (split["test"][0], split["pool"][0]):
        del article["title"]
    guarded, removed = guard_leakage(split)
    assert removed == {"url": 0, "title": 0, "content": 0} and guarded["pool"] == split["pool"]


def test_leakage_guard_keeps_a_clean_split_unchanged(hundred):
    split = split_articles(hundred, test=20, val=10, seed=42)
    guarded, removed = guard_leakage(split)
    assert removed == {"url": 0, "title": 0, "content": 0}
    assert ids(guarded["pool"]) == ids(split["pool"])


# ------------------------------------------------------------------ split_articles


def test_splits_are_disjoint_cover_everything_and_have_exact_sizes(hundred):
    split = split_articles(hundred, test=20, val=10, seed=42)
    assert set(split) == {"test", "val", "pool"}
    assert (len(split["test"]), len(split["val"]), len(split["pool"])) == (20, 10, 70)
    test, val, pool = (set(ids(split[name])) for name in ("test", "val", "pool"))
    assert len(test) == 20 and len(val) == 10 and len(pool) == 70  # no article twice within a split
    assert not (test & val) and not (test & pool) and not (val & pool)
    assert test | val | pool == set(ids(hundred))


def test_split_does_not_depend_on_input_order(hundred):
    reference = split_articles(hundred, 20, 10, seed=42)
    for shuffle_seed in (1, 2):
        shuffled = hundred[:]
        random.Random(shuffle_seed).shuffle(shuffled)
        again = split_articles(shuffled, 20, 10, seed=42)
        for name in ("test", "val", "pool"):
            assert ids(again[name]) == ids(reference[name]), name  # same articles in the same order


def test_split_depends_on_seed(hundred):
    assert set(ids(split_articles(hundred, 20, 10, seed=42)["test"])) != set(
        ids(split_articles(hundred, 20, 10, seed=43)["test"])
    )


def test_test_and_val_fixed_and_train_sets_nested(hundred, config):
    split = split_articles(hundred, 20, 10, seed=42)
    # The split has no train-size input at all, so test/val cannot move with train.size;
    # the training set of size N is the first N pool articles, hence nested.
    pool_examples = [
        {**example, "rank": rank}
        for rank, article in enumerate(split["pool"])
        for example in make_examples(article, config.tasks.names, config.tasks.prompts)
    ]
    chosen = {n: {e["id"] for e in select_training(pool_examples, n, oversample_cap=1)} for n in (10, 20, 70)}
    assert chosen[10] == set(ids(split["pool"][:10]))
    assert chosen[10] < chosen[20] < chosen[70] == set(ids(split["pool"]))
    held_out = set(ids(split["test"])) | set(ids(split["val"]))
    assert not (chosen[70] & held_out)
    # And a repeated split (as a re-run of build_tasks does) gives the identical test and val lists.
    again = split_articles(list(reversed(hundred)), 20, 10, seed=42)
    assert ids(again["test"]) == ids(split["test"]) and ids(again["val"]) == ids(split["val"])


def test_test_set_is_stratified_by_type(hundred):
    split = split_articles(hundred, 20, 10, seed=42)
    # 80/10/5/5 of 20 articles is exact.
    assert Counter(a["type"] for a in split["test"]) == {"Press Release": 16, "Press Kit": 2, "Speech": 1, "Fact & Figures": 1}
    # 10 of the remaining 64/8/4/4: 8 and 1, and the two half-articles of Speech and Fact & Figures make one.
    val = Counter(a["type"] for a in split["val"])
    assert (val["Press Release"], val["Press Kit"], val["Speech"] + val["Fact & Figures"], val.total()) == (8, 1, 1, 10)
    # The pool keeps the rest, so its mix follows the corpus too.
    pool = Counter(a["type"] for a in split["pool"])
    assert pool == Counter(a["type"] for a in hundred) - Counter(a["type"] for a in split["test"]) - val
    assert pool["Press Release"] == 56


def test_pool_order_is_seeded_random_not_id_sorted(hundred):
    pool = split_articles(hundred, 20, 10, seed=42)["pool"]
    assert ids(pool) != sorted(ids(pool))
    # its prefixes follow the pool's type mix rather than one type first
    assert 4 <= Counter(a["type"] for a in pool[:10])["Press Release"] <= 10


def test_single_article_type_does_not_crash(normalised_articles):
    corpus = normalised_articles(40)
    for article in corpus:
        article["type"] = "Press Release"
    corpus[5]["type"] = "Speech"  # one of a kind: cannot be stratified
    for i in (6, 7, 8, 9, 10, 11):
        corpus[i]["type"] = "Press Kit"
    split = split_articles(corpus, test=8, val=4, seed=42)
    assert (len(split["test"]), len(split["val"]), len(split["pool"])) == (8, 4, 28)
    assert set(ids(split["test"]) + ids(split["val"]) + ids(split["pool"])) == set(ids(corpus))


def test_two_singleton_types_are_pooled_into_one_stratum(normalised_articles):
    corpus = normalised_articles(30)
    for article in corpus:
        article["type"] = "Press Release"
    corpus[0]["type"], corpus[1]["type"] = "Speech", "Fact & Figures"
    split = split_articles(corpus, test=10, val=5, seed=0)
    assert sorted(len(split[name]) for name in split) == [5, 10, 15]


@pytest.mark.parametrize("test,val", [(90, 10), (99, 1), (100, 5)])
def test_no_training_articles_left_is_a_user_error(hundred, test, val):
    with pytest.raises(UserError) as info:
        split_articles(hundred, test, val, seed=42)
    message = str(info.value)
    assert "\n" not in message
    assert "split.test" in message and "split.val" in message and f"({test + val})" in message and "100" in message


@pytest.mark.parametrize("test,val,plain", [(2, 10, "2 of 100"), (10, 3, "3 of 90")])
def test_split_smaller_than_number_of_types_is_drawn_plain_random(hundred, capsys, test, val, plain):
    # Four types cannot be stratified into fewer than four articles (sklearn would raise): that one split
    # is drawn at random and says so; the other is still stratified.
    split = split_articles(hundred, test, val, seed=42)
    assert (len(split["test"]), len(split["val"]), len(split["pool"])) == (test, val, 100 - test - val)
    printed = capsys.readouterr().out
    assert printed.count("drawn without stratification") == 1 and f"split: {plain} articles" in printed


def test_type_counts_sorted(hundred):
    assert list(type_counts(hundred)) == sorted(type_counts(hundred))


# ------------------------------------------------------------------ make_examples


def test_make_examples_answers_and_inputs(normalised_articles, config):
    article = normalised_articles(3)[2]
    prompts = config.tasks.prompts
    examples = make_examples(article, list(REGISTRY), prompts)
    assert [e["task"] for e in examples] == list(REGISTRY)
    by_task = {e["task"]: e for e in examples}
    for task, example in by_task.items():
        assert example["id"] == article["id"]
        assert example["article_type"] == article["type"]
        assert example["system"] == prompts[task].system
        assert example["instruction"] == prompts[task].instruction

    assert by_task["summarization"]["answer"] == article["summary"]
    assert by_task["title"]["answer"] == article["title"]
    assert by_task["tags"]["answer"] == ", ".join(article["tags"])
    assert by_task["type"]["answer"] == article["type"]

    # References: text for text tasks, the tag list for tags (scored as a set).
    assert by_task["tags"]["reference"] == article["tags"] and isinstance(by_task["tags"]["reference"], list)
    for task in ("summarization", "title", "type"):
        assert by_task[task]["reference"] == by_task[task]["answer"]

    # The summary is the summarization answer, so it must not leak into that input.
    assert by_task["summarization"]["input"] == article["content"]
    assert article["summary"] not in by_task["summarization"]["input"]
    for task in ("title", "tags", "type"):
        assert by_task[task]["input"] == f"{article['summary']}\n\n{article['content']}"
        assert article["title"] not in by_task[task]["input"]  # the title answer does not leak either


def test_make_examples_follows_names_and_their_order(normalised_articles, config):
    article = normalised_articles(1)[0]
    examples = make_examples(article, ["type", "title"], config.tasks.prompts)
    assert [e["task"] for e in examples] == ["type", "title"]


def test_unknown_task_is_a_user_error(normalised_articles, config):
    with pytest.raises(UserError, match="unknown task 'translation'; choose from summarization, title, tags, type"):
        make_examples(normalised_articles(1)[0], ["translation"], config.tasks.prompts)
    with pytest.raises(UserError, match="unknown task 'translation'"):
        get_task("translation")


def test_an_article_lacking_a_field_feeds_only_the_tasks_that_do_not_need_it(normalised_articles, config):
    article = normalised_articles(1)[0]
    prompts = config.tasks.prompts
    without_summary = {key: value for key, value in article.items() if key != "summary"}
    examples = {e["task"]: e for e in make_examples(without_summary, list(REGISTRY), prompts)}
    assert list(examples) == ["title", "tags", "type"]
    # The summary is optional context: without it the input is the content alone.
    assert all(example["input"] == article["content"] for example in examples.values())
    without_tags = {key: value for key, value in article.items() if key != "tags"}
    examples = {e["task"]: e for e in make_examples(without_tags, list(REGISTRY), prompts)}
    assert list(examples) == ["summarization", "title", "type"]
    assert examples["type"]["input"] == f"{article['summary']}\n\n{article['content']}"


# ------------------------------------------------------------------ training.select_training


def pool_examples(types: list[str], names=tuple(REGISTRY)) -> list[dict]:
    """Task examples as build_tasks writes the pool: one per task per article, with the article's rank."""
    return [
        {"id": f"a{rank}", "task": task, "answer": article_type if task == "type" else f"{task} {rank}", "rank": rank}
        for rank, article_type in enumerate(types)
        for task in names
    ]


def test_select_training_takes_the_first_n_articles_all_tasks():
    pool = pool_examples(["Press Release"] * 10)
    chosen = select_training(pool, 4, oversample_cap=5)
    assert sorted({e["id"] for e in chosen}) == ["a0", "a1", "a2", "a3"]
    assert Counter(e["task"] for e in chosen) == {task: 4 for task in REGISTRY}  # one type only: nothing repeated


def test_select_training_size_above_pool_is_a_user_error():
    pool = pool_examples(["Press Release"] * 7)  # 28 examples but 7 articles
    with pytest.raises(UserError) as info:
        select_training(pool, 8, oversample_cap=5)
    message = str(info.value)
    assert "\n" not in message
    assert "train.size=8" in message and "7 articles" in message and "1..7" in message
    assert len(select_training(pool, 7, oversample_cap=5)) == 28  # the whole pool is allowed


def test_select_training_oversamples_minority_types_in_the_type_task_only():
    # first 20 articles: 12 press releases, 4 press kits, 3 speeches, 1 fact & figures
    types = ["Press Release"] * 12 + ["Press Kit"] * 4 + ["Speech"] * 3 + ["Fact & Figures"] + ["Speech"] * 5
    pool = pool_examples(types)
    chosen = select_training(pool, 20, oversample_cap=5)
    type_answers = Counter(e["answer"] for e in chosen if e["task"] == "type")
    # repeat = min(cap, round(12 / count)): 1, 3, 4, and 12 capped at 5
    assert type_answers == {"Press Release": 12, "Press Kit": 4 * 3, "Speech": 3 * 4, "Fact & Figures": 1 * 5}
    for task in ("summarization", "title", "tags"):
        task_ids = [e["id"] for e in chosen if e["task"] == task]
        assert sorted(task_ids) == sorted(f"a{rank}" for rank in range(20))  # each exactly once
    # ranks beyond size stay out even for minority types
    assert all(e["rank"] < 20 for e in chosen)


def test_label_repeats_record_how_often_training_saw_each_type():
    types = ["Press Release"] * 12 + ["Press Kit"] * 4 + ["Speech"] * 3 + ["Fact & Figures"]
    chosen = select_training(pool_examples(types), 20, oversample_cap=5)
    # per article, once per epoch: what select_training repeated (round(12 / count), at most 5); free-text tasks absent
    assert label_repeats(chosen) == {"type": {"Fact & Figures": 5, "Press Kit": 3, "Press Release": 1, "Speech": 4}}
    assert label_repeats(select_training(pool_examples(types), 20, oversample_cap=1)) == {
        "type": {"Fact & Figures": 1, "Press Kit": 1, "Press Release": 1, "Speech": 1}}
    # what infer prints and the report names: only the labels repeated
    assert repeated_labels(label_repeats(chosen)) == "Fact & Figures ×5, Press Kit ×3, Speech ×4"
    assert repeated_labels(label_repeats(select_training(pool_examples(types), 20, oversample_cap=1))) == ""


def test_select_training_cap_one_turns_oversampling_off():
    pool = pool_examples(["Press Release"] * 9 + ["Speech"])
    chosen = select_training(pool, 10, oversample_cap=1)
    assert len(chosen) == len(pool)
    assert Counter(e["answer"] for e in chosen if e["task"] == "type") == {"Press Release": 9, "Speech": 1}


def test_select_training_without_type_task_repeats_nothing():
    pool = pool_examples(["Press Release"] * 9 + ["Speech"], names=("summarization", "title"))
    assert len(select_training(pool, 10, oversample_cap=5)) == 20


def test_the_training_set_counts_pool_articles_by_rank_not_by_the_examples_they_gave():
    # The article of rank 1 gave no example (no tags, with tags the only task): counting ids would make the pool 2
    # articles long and silently drop the last one.
    pool = [{"id": "a", "rank": 0, "task": "tags"}, {"id": "c", "rank": 2, "task": "tags"}]
    assert [example["id"] for example in training_examples(pool, None)] == ["a", "c"]
    assert [example["id"] for example in training_examples(pool, 2)] == ["a"]
    with pytest.raises(UserError, match="train.size=4 exceeds the training pool of 3 articles"):
        training_examples(pool, 4)
    assert [example["id"] for example in select_training(pool, None, oversample_cap=4)] == ["a", "c"]

