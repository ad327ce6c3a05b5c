"""Cleaning and validation: markup and press boilerplate out, canonical labels, ISO dates, rejects, duplicates."""

import copy
import hashlib

import pytest

from pressft.data.cleaning import (
    Rejected,
    article_id,
    canonical_type,
    clean_article,
    clean_corpus,
    clean_text,
    data_report,
    deduplicate,
    iso_date,
    normalise_tags,
    strip_boilerplate,
)

# Invented PressClub-like articles; the content of RAW is 26 words (14 + 12) after cleaning.
RAW = {
    "title": "BMW iX3 starts series production in Debrecen",
    "date": "15.10.2025",
    "type": "press release",
    "summary": "Series production of the BMW iX3 starts in Debrecen.",
    "tags": " Production, Electromobility, production",
    "url": "https://www.press.bmwgroup.com/global/article/detail/T0400001EN/bmw-ix3-debrecen",
    "content": "<p>Debrecen. The first BMW iX3 left the assembly line of the new plant today.</p>"
    "<p>The plant runs on electricity from renewable sources and employs 1,000&nbsp;people.</p>",
}
RAW_CONTENT = (
    "Debrecen. The first BMW iX3 left the assembly line of the new plant today.\n\n"
    "The plant runs on electricity from renewable sources and employs 1,000 people."
)
OTHER = {
    "title": "MINI opens a design studio in Oxford",
    "date": "02.03.2025",
    "type": "Press Kit",
    "summary": "MINI opens a design studio next to its plant in Oxford.",
    "tags": ["Design", "MINI"],
    "url": "https://www.press.bmwgroup.com/global/article/detail/T0400002EN/mini-design-oxford",
    "content": "Oxford. MINI opens a design studio next to its plant in Oxford. "
    "Forty designers will work on future models there.",
}
PROFILE = (
    "With its four brands BMW, MINI, Rolls-Royce and BMW Motorrad, the BMW Group is the world’s leading "
    "premium manufacturer of automobiles and motorcycles and also provides premium financial services."
)


def clean(raw: dict, min_content_words: int = 1, max_chars: int = 10**6) -> dict:
    return clean_article(raw, min_content_words, max_chars)[0]


def rejection(raw: dict, min_content_words: int = 20, max_chars: int = 200_000) -> tuple[str, str]:
    with pytest.raises(Rejected) as info:
        clean_article(raw, min_content_words, max_chars)
    return info.value.reason, info.value.detail


# ------------------------------------------------------------------ clean_text


def test_clean_text_html_blocks_become_paragraphs_and_br_a_line_break():
    html = "<p>First paragraph.</p><p>Second paragraph<br>with a second line.</p><div>Third.</div>"
    assert clean_text(html) == "First paragraph.\n\nSecond paragraph\nwith a second line.\n\nThird."


def test_clean_text_removes_inline_tags():
    html = '<p>The <b>BMW</b> <a href="https://example.com/ix3">iX3</a> <span class="x">arrives</span>.</p>'
    assert clean_text(html) == "The BMW iX3 arrives."


def test_clean_text_decodes_entities_in_plain_text():
    assert clean_text("Sales &amp; marketing&nbsp;team &#8211; Munich") == "Sales & marketing team – Munich"


def test_clean_text_decodes_only_entities_closed_by_a_semicolon_in_plain_text():
    # html.unescape's legacy rule would read "&not" as "¬"
    assert clean_text("Fish&notes &amp;copy; R&D") == "Fish&notes &copy; R&D"


def test_clean_text_drops_html_comments_with_or_without_other_markup():
    assert clean_text("Text <!-- tracking\npixel --> more text") == "Text more text"
    assert clean_text("<p>Text</p><!-- <b>x</b> --><p>More</p>") == "Text\n\nMore"


def test_clean_text_decodes_entities_inside_html():
    assert clean_text("<p>R&amp;D&nbsp;centre &#8211; FIZ</p>") == "R&D centre – FIZ"


def test_clean_text_applies_nfkc():
    # U+2082 subscript two, U+00A0 no-break space, full-width letters.
    text = "CO\u2082 emissions:\u00a00 g/km for the \uff22\uff2d\uff37 iX3"
    assert clean_text(text) == "CO2 emissions: 0 g/km for the BMW iX3"


def test_clean_text_removes_zero_width_characters_and_soft_hyphens():
    text = "\ufeffElektro\u00admobilit\u00e4t for every\u200bone\u2060 today"
    assert clean_text(text) == "Elektromobilität for everyone today"


def test_clean_text_removes_control_characters():
    assert clean_text("Munich\x07 today\x00, the plant\x1b\x7f") == "Munich today, the plant"


def test_clean_text_collapses_spaces_and_tabs():
    assert clean_text("  Too   many \t\t spaces  ") == "Too many spaces"


def test_clean_text_handles_crlf():
    assert clean_text("Line one\r\nLine two\r\n\r\nParagraph two\r\n") == "Line one\nLine two\n\nParagraph two"


def test_clean_text_joins_paragraphs_with_exactly_one_blank_line():
    assert clean_text("\n\n  First.\n\n\n \n\t\nSecond.\n\n\n") == "First.\n\nSecond."


# ------------------------------------------------------------------ strip_boilerplate


PRESS_RELEASE = "\n\n".join([
    "Munich. The BMW Group opens a new test centre for electric drive trains in Garching.",
    "Around 300 engineers will work there. Tours can be booked at www.bmw-welt.example/tours "
    "or by e-mail to tours@bmw-welt.example.",
    PROFILE,
    "The centre is part of a larger investment programme.",
    "In case of queries, please contact:",
    "Corporate Communications\nAnna Beispiel, Spokesperson Technology\n"
    "Telephone: +49 89 382-00000\nEmail: anna.beispiel@bmwgroup.example",
    "The BMW Group",
    PROFILE,
])


def test_strip_boilerplate_on_a_press_release():
    text, kinds = strip_boilerplate(PRESS_RELEASE)
    assert text == (
        "Munich. The BMW Group opens a new test centre for electric drive trains in Garching.\n\n"
        "Around 300 engineers will work there. Tours can be booked at or by e-mail to.\n\n"
        "The centre is part of a larger investment programme."
    )
    assert kinds == {"contact block", "company profile", "urls and e-mails"}


def test_strip_boilerplate_cuts_everything_after_if_you_have_any_questions():
    text, kinds = strip_boilerplate(
        "The new BMW M5 Touring arrives in spring.\n\n"
        "If you have any questions, please contact:\n\nMax Mustermann\n\nThe second half of the page."
    )
    assert text == "The new BMW M5 Touring arrives in spring."
    assert kinds == {"contact block"}


@pytest.mark.parametrize(
    "heading",
    [
        "In the event of enquiries please contact:",
        "In the event of enquiries, please contact:",
        "For media inquiries, please contact:",
        "BMW Group Corporate Communications",
        "BMW Group, Corporate Communications",
        "Corporate Communications",
    ],
)
def test_strip_boilerplate_knows_the_contact_block_in_other_wordings(heading):
    text, kinds = strip_boilerplate(
        f"The new BMW M5 Touring arrives in spring.\n\n{heading}\n\nAnna Beispiel, Communications Sales"
    )
    assert text == "The new BMW M5 Touring arrives in spring."
    assert kinds == {"contact block"}


@pytest.mark.parametrize(
    ("paragraph", "kept"),
    [
        ("Deliveries start in May. In case of queries, please contact: Corporate Communications Anna Beispiel",
         "Deliveries start in May."),
        ("Deliveries start in May!” In the event of enquiries please contact:", "Deliveries start in May!”"),
        ("“This is a strong commitment to the site.” BMW Group Corporate Communications",
         "“This is a strong commitment to the site.”"),
    ],
)
def test_strip_boilerplate_cuts_a_contact_block_that_lost_its_paragraph_break(paragraph, kept):
    text, kinds = strip_boilerplate(f"The plant opens.\n\n{paragraph}\n\nAbout the plant: 3,000 people work there.")
    assert text == f"The plant opens.\n\n{kept}"
    assert kinds == {"contact block"}


def test_strip_boilerplate_removes_the_yearly_figures_of_the_company_profile():
    figures = ("In 2024, the BMW Group sold over 2.45 million passenger vehicles and more than 210,000 motorcycles "
               "worldwide. The profit before tax in the financial year 2024 was € 11.0 billion.")
    success = "The success of the BMW Group has always been based on long-term thinking and responsible action."
    text, kinds = strip_boilerplate(f"The BMW X5 gets a new engine.\n\n{figures}\n\n{success}")
    assert text == "The BMW X5 gets a new engine."
    assert kinds == {"company profile"}


def test_strip_boilerplate_removes_the_company_profile_anywhere():
    text, kinds = strip_boilerplate(f"{PROFILE}\n\nThe BMW X5 gets a new engine.\n\n{PROFILE}\n\nPrices follow.")
    assert text == "The BMW X5 gets a new engine.\n\nPrices follow."
    assert kinds == {"company profile"}


def test_strip_boilerplate_removes_contact_lines_outside_a_contact_block():
    text, kinds = strip_boilerplate(
        "The exhibition opens on 5 May.\nPhone: +49 89 1250-00000\nInternet: www.bmw-welt.example\n\nEntry is free."
    )
    assert text == "The exhibition opens on 5 May.\n\nEntry is free."
    assert kinds == {"contact lines"}


def test_strip_boilerplate_removes_inline_urls_and_emails_and_tidies_spaces():
    text, kinds = strip_boilerplate("Write to press@bmw-welt.example or see https://bmw-welt.example/press for photos.")
    assert text == "Write to or see for photos."
    assert kinds == {"urls and e-mails"}


def test_strip_boilerplate_tidies_punctuation_after_a_removed_email():
    text, _ = strip_boilerplate("Questions go to the plant, by e-mail to plant.debrecen@bmwgroup.example.")
    assert text == "Questions go to the plant, by e-mail to."


def test_a_line_that_was_only_a_link_does_not_split_its_paragraph():
    text, _ = strip_boilerplate("Intro\nwww.bmw.example\nMore\n\nSee www.bmw.example (www.mini.example) for details.")
    assert text == "Intro\nMore\n\nSee for details."


def test_for_more_information_please_visit_is_not_a_contact_block():
    text, kinds = strip_boilerplate(
        "The BMW iX3 is on sale now.\n\n"
        "For more information, please visit: www.bmw.example/ix3\n\n"
        "Deliveries start in May."
    )
    assert text == "The BMW iX3 is on sale now.\n\nFor more information, please visit:\n\nDeliveries start in May."
    assert kinds == {"urls and e-mails"}


def test_contact_heading_in_the_first_paragraph_is_not_cut():
    content = "In case of queries, please contact your BMW dealer, the campaign says.\n\nThe recall affects 400 cars."
    assert strip_boilerplate(content) == (content, set())


def test_strip_boilerplate_leaves_plain_text_alone():
    assert strip_boilerplate(RAW_CONTENT) == (RAW_CONTENT, set())


# ------------------------------------------------------------------ labels, tags, dates


@pytest.mark.parametrize(
    "label,expected",
    [
        ("press release", "Press Release"),
        ("Press Releases", "Press Release"),
        ("PRESS KIT", "Press Kit"),
        ("Facts & Figures", "Fact & Figures"),
        ("Fact and Figures", "Fact & Figures"),
        ("Speeches", "Speech"),
        ("Fact & Figures", "Fact & Figures"),
    ],
)
def test_canonical_type_maps_variants(label, expected):
    assert canonical_type(label) == expected


def test_canonical_type_rejects_an_unknown_label():
    with pytest.raises(Rejected) as info:
        canonical_type("Blog")
    assert info.value.reason == "unknown type"
    assert info.value.detail == "'Blog' (known: Press Release, Press Kit, Speech, Fact & Figures)"


def test_normalise_tags_from_a_list():
    tags = ["  BMW   M ", "Design", "design", "", "  ", "BMW m", "Motorsport"]
    assert normalise_tags(tags) == ["BMW M", "Design", "Motorsport"]


def test_normalise_tags_from_a_comma_separated_string():
    assert normalise_tags(" Design, BMW   M,,design , ") == ["Design", "BMW M"]


def test_normalise_tags_cleans_markup():
    assert normalise_tags(["<b>Design</b>", "R&amp;D"]) == ["Design", "R&D"]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("30.12.2025", "2025-12-30"),
        (" 01.02.2024 ", "2024-02-01"),
        ("2024-02-29", "2024-02-29"),
        ("2024-02-29T10:15:00Z", "2024-02-29"),
        ("2024-02-29T10:15:00+01:00", "2024-02-29"),
    ],
)
def test_iso_date_accepts(value, expected):
    assert iso_date(value) == expected


@pytest.mark.parametrize("value", ["31.02.2024", "2024/01/05", "12-30-2025", "yesterday", ""])
def test_iso_date_rejects(value):
    with pytest.raises(Rejected) as info:
        iso_date(value)
    assert info.value.reason == "bad date"
    assert info.value.detail == f"{value!r} is not DD.MM.YYYY or ISO"


# ------------------------------------------------------------------ clean_article


def test_clean_article_output():
    article, found = clean_article(RAW, min_content_words=20, max_chars=200_000)
    assert article == {
        "title": "BMW iX3 starts series production in Debrecen",
        "type": "Press Release",
        "summary": "Series production of the BMW iX3 starts in Debrecen.",
        "url": RAW["url"],
        "content": RAW_CONTENT,
        "date": "2025-10-15",
        "tags": ["Production", "Electromobility"],
        "id": hashlib.sha1(RAW["url"].encode()).hexdigest()[:12],
    }
    assert list(article) == ["title", "type", "summary", "url", "content", "date", "tags", "id"]
    assert found == set()


def test_clean_article_does_not_mutate_its_input():
    raw = copy.deepcopy(RAW | {"tags": ["Design", " design "]})
    clean_article(raw, 20, 200_000)
    assert raw == RAW | {"tags": ["Design", " design "]}


def test_clean_article_reports_stripped_boilerplate():
    raw = RAW | {"content": RAW["content"] + "<p>In case of queries, please contact:</p><p>Press Office</p>"}
    article, found = clean_article(raw, 20, 200_000)
    assert article["content"] == RAW_CONTENT
    assert found == {"contact block"}


def test_clean_article_collapses_a_multiline_title():
    assert clean(RAW | {"title": "BMW iX3 starts\nseries production\n\nin Debrecen"})["title"] == RAW["title"]


def test_article_id_is_sha1_of_the_url():
    assert article_id("https://example.com/a") == "c4ed1c218d14"


def test_id_depends_only_on_the_trimmed_url():
    first = clean(RAW)["id"]
    assert clean(dict(reversed(list(RAW.items()))))["id"] == first
    assert clean(RAW | {"title": "Another title", "date": "2020-01-01"})["id"] == first
    assert clean(RAW | {"url": f"  {RAW['url']}\n"})["id"] == first
    assert clean(OTHER)["id"] != first


def test_missing_mandatory_fields_are_all_named():
    raw = {key: value for key, value in RAW.items() if key != "date"} | {"summary": "", "tags": [], "content": None}
    assert rejection(raw) == ("missing field", "date, content")
    assert rejection(RAW | {"type": None, "url": ""}) == ("missing field", "url, type")


def test_an_article_without_the_optional_fields_is_kept_without_them():
    article = clean({key: value for key, value in RAW.items() if key not in ("title", "summary")} | {"tags": []})
    assert list(article) == ["type", "url", "content", "date", "id"]
    assert article == {key: clean(RAW)[key] for key in article}


@pytest.mark.parametrize(
    "change,detail",
    [
        ({"title": 2025}, "title must be a string, got a JSON number"),
        ({"tags": {"Design": 1}}, "tags must be a list of strings or a comma-separated string, got a JSON object"),
        ({"tags": ["Design", 3]},
         "tags must be a list of strings or a comma-separated string, got a JSON array with an item of type number"),
        ({"date": 20251015}, "date must be a string, got a JSON number"),
        # a list of strings where one string belongs (paragraphs) is a reject, not a crash of the whole stage
        ({"content": ["First paragraph.", "Second."]}, "content must be a string, got a JSON array"),
        ({"title": ["A", "B"]}, "title must be a string, got a JSON array"),
    ],
)
def test_wrong_type(change, detail):
    assert rejection(RAW | change) == ("wrong type", detail)


def test_too_long_is_checked_against_max_chars():
    raw = RAW | {"content": "word " * 1000}
    assert rejection(raw, max_chars=4999) == ("too long", "content has 5,000 characters (limit data.max_chars=4,999)")
    assert clean(raw, max_chars=5000)["content"].count("word") == 1000


@pytest.mark.parametrize(
    "url", ["/global/article/detail/T0400001EN", "ftp://press.bmwgroup.com/a", "https:///no-host", "www.bmw.com/a"]
)
def test_bad_url(url):
    assert rejection(RAW | {"url": url}) == ("bad url", f"{url!r} is not an absolute http(s) URL")


def test_double_encoded_markup_is_rejected():
    raw = RAW | {"summary": "&lt;p&gt;Series production starts.&lt;/p&gt;"}
    assert rejection(raw) == ("markup left", "summary still contains '<p>' after cleaning")


def test_double_encoded_entity_is_rejected():
    raw = RAW | {"title": "Research &amp;amp; development"}
    assert rejection(raw) == ("markup left", "title still contains '&amp;' after cleaning")


def test_escaped_comparison_in_text_is_not_markup():
    assert clean(RAW | {"title": "Range 5 &lt; 6 hours"})["title"] == "Range 5 < 6 hours"


def test_too_short_counts_words_after_cleaning():
    assert rejection(RAW, min_content_words=27) == (
        "too short", "content has 26 words (minimum data.min_content_words=27)"
    )
    assert clean(RAW, min_content_words=26)["content"] == RAW_CONTENT


@pytest.mark.parametrize("tags", [" , ,, ", ["  ", "<br>"]])
def test_tags_empty_after_cleaning_are_left_out(tags):
    assert "tags" not in clean(RAW | {"tags": tags})


@pytest.mark.parametrize("field", ["title", "summary"])
def test_optional_text_empty_after_cleaning_is_left_out(field):
    assert field not in clean(RAW | {field: "<p> </p><p>&nbsp;</p>"})


def test_content_empty_after_cleaning_is_rejected():
    assert rejection(RAW | {"content": "<p> </p><p>&nbsp;</p>"}) == ("missing field", "content is empty after cleaning")


def test_bad_date_in_an_article():
    assert rejection(RAW | {"date": "31.02.2024"}) == ("bad date", "'31.02.2024' is not DD.MM.YYYY or ISO")


def test_unknown_type_in_an_article():
    assert rejection(RAW | {"type": "Blog"})[0] == "unknown type"


# ------------------------------------------------------------------ deduplicate


@pytest.mark.parametrize(
    "url",
    [
        RAW["url"] + "/",
        RAW["url"].replace("www.press.bmwgroup.com", "WWW.Press.BMWGroup.com"),
        RAW["url"].replace("https://", "http://"),
    ],
)
def test_same_url_is_a_duplicate(url):
    first, second = clean(RAW), clean(OTHER | {"url": url})
    kept, rejects = deduplicate([first, second])
    assert kept == [first]
    assert rejects == [
        {"reason": "duplicate", "detail": f"same URL as {first['id']}", "record": {"title": OTHER["title"], "url": url}}
    ]


def test_same_title_and_date_is_a_duplicate_ignoring_case_and_punctuation():
    first = clean(RAW)
    second = clean(OTHER | {"title": "BMW iX3: Starts Series-Production in Debrecen!", "date": "2025-10-15"})
    kept, rejects = deduplicate([first, second])
    assert kept == [first]
    assert [(r["reason"], r["detail"]) for r in rejects] == [("duplicate", f"same title and date as {first['id']}")]


def test_same_title_with_a_different_date_is_kept():
    """Monthly sales reports share a title."""
    first, second = clean(RAW), clean(OTHER | {"title": RAW["title"], "date": "15.11.2025"})
    assert deduplicate([first, second]) == ([first, second], [])


def test_same_content_is_a_duplicate_ignoring_whitespace_and_case():
    first = clean(RAW)
    second = clean(OTHER | {"content": RAW_CONTENT.upper().replace("\n\n", " ").replace(" ", "   \t")})
    kept, rejects = deduplicate([first, second])
    assert kept == [first]
    assert [(r["reason"], r["detail"]) for r in rejects] == [("duplicate", f"same content as {first['id']}")]


def test_deduplicate_keeps_the_first_and_the_input_order():
    a, b = clean(RAW), clean(OTHER)
    again = clean(RAW | {"title": "A later copy"})
    kept, rejects = deduplicate([b, a, again])
    assert kept == [b, a]
    assert rejects[0]["detail"] == f"same URL as {a['id']}"
    assert rejects[0]["record"]["title"] == "A later copy"


# ------------------------------------------------------------------ clean_corpus and data_report


SPEECH = {
    "title": "Speech at the Annual General Meeting 2025",
    "date": "2025-05-14T10:00:00Z",
    "type": "Speeches",
    "summary": "The Chairman speaks about the year 2024.",
    "tags": ["Corporate"],
    "url": "https://www.press.bmwgroup.com/global/article/detail/T0400003EN/agm-2025-speech",
    # 26 words once the URL is gone.
    "content": "Munich. Ladies and gentlemen, 2024 was a year of investment in our plants and in new models. "
    "The full speech is online at https://www.bmwgroup.example/agm2025 for all shareholders.",
}


def numbered_url(n: int) -> str:
    return f"https://www.press.bmwgroup.com/global/article/detail/T04000{n:02d}EN/article"


def mixed_corpus() -> list[dict]:
    """Nine records: 4 kept (record 9 without summary and tags), 3 invalid (records 5 to 7), 2 duplicates (records 4
    and 8)."""
    contact = "\n\nIn case of queries, please contact:\nPress Office MINI\nTelephone: +44 1865 000000"
    kit = OTHER | {"type": "PRESS KIT", "tags": ["Design", "design", "MINI"], "content": OTHER["content"] + contact}
    return [
        RAW,
        kit,  # 20 words once the contact block is cut
        SPEECH,
        OTHER | {"url": RAW["url"] + "/", "title": "Debrecen update", "content": RAW_CONTENT + " Updated."},
        RAW | {"url": numbered_url(5), "date": ""},
        RAW | {"url": numbered_url(6), "title": "A blog post", "type": "Blog"},
        RAW | {"url": numbered_url(7), "title": "A teaser", "content": "Munich. Short teaser text only."},
        SPEECH | {"url": numbered_url(8), "title": "Another speech", "content": OTHER["content"]},
        RAW | {"url": numbered_url(9), "title": "Debrecen plant trains its workforce", "summary": "", "tags": [],
               "content": "Debrecen. Two hundred new employees finished their training at the plant this month. "
               "They will work in body shop, paint shop and assembly from November onwards."},
    ]


def test_articles_without_a_title_are_no_duplicates_of_each_other():
    first, second = clean(RAW | {"title": ""}), clean(OTHER | {"title": "", "date": RAW["date"]})
    assert deduplicate([first, second]) == ([first, second], [])


def test_clean_corpus_sorts_records_into_kept_and_rejected():
    articles, rejects, stripped = clean_corpus(mixed_corpus(), min_content_words=20, max_chars=200_000)
    assert [a["title"] for a in articles] == [RAW["title"], OTHER["title"], SPEECH["title"],
                                              "Debrecen plant trains its workforce"]
    assert "summary" not in articles[3] and "tags" not in articles[3]
    assert [(r["reason"], r["record"].get("where")) for r in rejects] == [
        ("missing field", "record 5"),
        ("unknown type", "record 6"),
        ("too short", "record 7"),
        ("duplicate", "record 4"),
        ("duplicate", "record 8"),
    ]
    assert rejects[3]["detail"] == f"same URL as {articles[0]['id']}"
    assert rejects[4]["detail"] == f"same content as {articles[1]['id']}"
    assert stripped == {"contact block": 1, "urls and e-mails": 1}


def test_clean_corpus_uses_the_readers_location():
    _, rejects, _ = clean_corpus([RAW | {"type": "Blog", "_where": "line 7"}], 20, 200_000)
    assert rejects[0]["record"] == {"title": RAW["title"], "url": RAW["url"], "where": "line 7"}


def test_data_report_counts_by_hand():
    records = mixed_corpus()
    articles, rejects, stripped = clean_corpus(records, min_content_words=20, max_chars=200_000)
    assert data_report(len(records), articles, rejects, stripped) == {
        "records_read": 9,
        "kept": 4,
        "rejected": 3,
        "duplicates": 2,
        "rejected_by_reason": {"missing field": 1, "too short": 1, "unknown type": 1},
        "missing_fields": {"title": 0, "summary": 1, "tags": 1},
        "boilerplate_stripped": {"contact block": 1, "urls and e-mails": 1},
        "types": {"Press Kit": 1, "Press Release": 2, "Speech": 1},
        # Over the articles that have the field: 2, 2, 1 tags.
        "tags_per_article": {"mean": 1.7, "median": 2.0, "min": 1.0, "max": 2.0},
        "distinct_tags": 5,  # Production, Electromobility, Design, MINI, Corporate
        "words": {
            "title": {"mean": 6.5, "median": 7.0, "min": 5.0, "max": 7.0},  # 7, 7, 7, 5
            "summary": {"mean": 9.0, "median": 9.0, "min": 7.0, "max": 11.0},  # 9, 11, 7
            "content": {"mean": 24.5, "median": 26.0, "min": 20.0, "max": 26.0},  # 26, 20, 26, 26
        },
        "summary_in_content": 0.333,  # only the kit's summary is its first sentence, of three summaries
        "dates": {"first": "2025-03-02", "last": "2025-10-15"},
    }


def test_data_report_of_an_empty_corpus():
    report = data_report(2, [], [{"reason": "not JSON"}, {"reason": "duplicate"}], {})
    assert report["kept"] == 0 and report["rejected"] == 1 and report["duplicates"] == 1
    assert report["tags_per_article"] == {"mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0}
    assert report["summary_in_content"] == 0.0
    assert report["dates"] == {}


# ------------------------------------------------------------------ regressions found in review


@pytest.mark.parametrize("separator", ["\r", "\x85", "\x0b", "\x0c", "\u2028", "\u2029", "\r\n"])
def test_clean_text_turns_every_line_break_into_a_newline(separator):
    assert clean_text(f"Munich.{separator}The BMW iX3 arrives.") == "Munich.\nThe BMW iX3 arrives."


def test_urls_that_differ_in_the_query_are_different_articles():
    first = clean_article(RAW | {"url": "https://example.com/article?id=1"}, 20, 200_000)[0]
    second = clean_article(OTHER | {"url": "https://example.com/article?id=2"}, 20, 200_000)[0]
    kept, rejects = deduplicate([first, second])
    assert len(kept) == 2 and rejects == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Details at www.bmw.com. Next sentence here.", "Details at. Next sentence here."),
        ("See (https://bmw.example/x) for details.", "See for details."),
        ("Write to press@bmw.example, or call.", "Write to, or call."),
    ],
)
def test_url_removal_keeps_sentence_punctuation(text, expected):
    assert strip_boilerplate(text) == (expected, {"urls and e-mails"})


@pytest.mark.parametrize(
    "paragraph",
    [
        "Press contacts from 30 countries attended the launch.",
        "For further information on contactless charging, the app helps.",
        "If you have any questions about the range, the configurator answers them.",
        "Corporate Communications and Governmental Affairs is restructuring its management team.",
        "She will head BMW Group Corporate Communications.",
        "Page 3 BMW Motorrad Corporate Communications The chassis was lifted by 20 mm.",
        "In 2024, the BMW Group sold 2.45 million passenger vehicles, 4% more than the year before.",
    ],
)
def test_sentences_that_mention_contacts_or_the_group_are_not_boilerplate(paragraph):
    text = f"Intro paragraph.\n\n{paragraph}\n\nMore text."
    assert strip_boilerplate(text) == (text, set())


def test_boilerplate_is_counted_once_for_an_article_kept_once():
    content = RAW_CONTENT + "\n\nIn case of queries, please contact:\nInvented Person\nTelephone: +00 000 0000"
    records = [RAW | {"content": content}, RAW | {"content": content}]
    articles, rejects, stripped = clean_corpus(records, 1, 200_000)
    assert len(articles) == 1 and [r["reason"] for r in rejects] == ["duplicate"]
    assert stripped == {"contact block": 1}


def test_a_listed_tag_with_a_comma_is_split_like_the_answer_format():
    assert normalise_tags(["Production, Recycling", "Design", "recycling"]) == ["Production", "Recycling", "Design"]
