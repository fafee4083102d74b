"""Facts, template, validator, vocabulary and grammar text: no model needed."""

from __future__ import annotations

import re

import pytest

from server.llm.engine import (
    EXAMPLE_FACTS,
    EXAMPLE_SUMMARY,
    LocalSummarizer,
    build_grammar,
    build_messages,
    fact_lines,
    grammar_vocabulary,
)
from server.llm.facts import SummaryFacts
from server.llm.prompts import EXAMPLES, retry_note
from server.llm.samples import SAMPLES, critical_alerts, strong_candidate
from server.llm.template import template_summary
from server.llm.validate import validate_summary
from server.llm.vocabulary import BASE_WORDS, words_gbnf

strong_facts = strong_candidate
critical_facts = critical_alerts


FACT_SETS = {**SAMPLES, "example": EXAMPLE_FACTS}


# --- facts -------------------------------------------------------------------------


def test_count_alerts_by_type_and_severity():
    by_type, by_severity = SummaryFacts.count_alerts(
        [
            {"type": "multiple_faces"},
            {"type": "multiple_faces"},
            {"type": "looking_away", "severity": "warning"},
        ]
    )
    assert by_type == {"multiple_faces": 2, "looking_away": 1}
    # A record without a severity takes the contract's severity for its type.
    assert by_severity == {"critical": 2, "warning": 1}


def test_numbers_are_the_facts_values_and_their_roundings():
    f = strong_facts()
    numbers = f.numbers()
    for value in (86, 85, 88, 75, 98.3, 98, 5, 295, 300.5, 1, 100):
        assert float(value) in numbers
    assert 92.0 not in numbers
    assert f.numbers_by_unit()["minutes"] >= {5.0}
    assert 5.0 not in f.numbers_by_unit()["percent"]
    assert f.numbers_by_unit()["never"] == frozenset()


# --- template ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FACT_SETS))
def test_template_is_deterministic_and_passes_validation(name):
    facts = FACT_SETS[name]
    text = template_summary(facts)
    assert text == template_summary(facts)
    assert validate_summary(text, facts) == []
    sentences = re.split(r"(?<=\.)\s+", text)
    assert 2 <= len(sentences) <= 4


def test_template_varies_with_the_facts():
    strong, critical = template_summary(strong_facts()), template_summary(critical_facts())
    assert "strong overall video score of 86" in strong
    assert "John Doe" in strong and "TechCorp" in strong
    assert "weak overall video score of 41" in critical
    assert "critical" in critical and "multiple faces" in critical and "9 mismatches" in critical
    assert "No proctoring alerts" in template_summary(FACT_SETS["short"])


# --- validator -------------------------------------------------------------------------

GOOD = (
    "John Doe completed a 5-minute video interview for the Software Engineer role at TechCorp "
    "and earned a strong overall video score of 86 out of 100. Posture was the strongest signal at 88, "
    "and eye contact stayed high at 85. One alert for looking away was raised, and none were critical."
)


def test_a_faithful_summary_passes():
    assert validate_summary(GOOD, strong_facts()) == []
    assert validate_summary(EXAMPLE_SUMMARY, EXAMPLE_FACTS) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        (GOOD.replace("86 out of 100", "92 out of 100"), "92"),
        (GOOD.replace("at 88", "at 88 over 3 weeks"), "weeks"),
        (GOOD.replace("stayed high at 85", "reached ninety-five percent"), "95"),
        (GOOD.replace("at 88", "at 82"), "posture as 82"),
        (GOOD.replace("86 out of 100", "86 out of 10"), "scale"),
    ],
)
def test_invented_numbers_are_rejected(text, expected):
    problems = validate_summary(text, strong_facts())
    assert problems and any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "sentence, topic",
    [
        ("The candidate's voice tone was warm and confident throughout.", "voice"),
        ("The candidate wore professional attire for the interview.", "attire"),
        ("He kept good eye contact throughout the interview.", "gender"),
        ("The candidate showed strong technical skills in every answer.", "skills"),
        ("We recommend moving the candidate to the next round.", "hiring"),
    ],
)
def test_unmeasured_topics_are_rejected(sentence, topic):
    problems = validate_summary(f"{GOOD} {sentence}", strong_facts())
    assert any(topic in p for p in problems), problems


def test_alert_claims_are_checked_against_the_counts():
    critical = critical_facts()
    claims_clean = (
        "Priya Raman completed a 7-minute video interview with a weak overall video score of 41 out of 100. "
        "No alerts were raised and no other faces appeared on camera."
    )
    problems = validate_summary(claims_clean, critical)
    assert any("no alerts" in p for p in problems)
    assert any("multiple faces" in p for p in problems)
    assert any("critical alerts" in p for p in problems)  # and it leaves them out
    invents_phone = GOOD.replace(
        "One alert for looking away was raised", "A phone was seen on the desk"
    )
    assert any("suspicious object" in p for p in validate_summary(invents_phone, strong_facts()))


def test_judgements_must_fit_the_values():
    text = (
        "Priya Raman completed a 7-minute video interview with a weak overall video score of 41 out of 100. "
        "Eye contact was strong throughout, and 2 alerts for multiple faces were raised."
    )
    problems = validate_summary(text, critical_facts())
    assert any("eye contact 'strong'" in p for p in problems), problems


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "empty"),
        ("John Doe scored 86.", "too short"),
        (" ".join([GOOD] * 6), "too long"),
        (
            "The the candidate candidate was good good good good good good and and the score 86.",
            "repeats",
        ),
        ("Xkcd qwrtp zzzt brrr mmph 86 out of 100 tsktsk hmm grr pfft.", "English"),
        (GOOD + " The candidate laughed at Google during the interview.", "Google"),
        (GOOD.replace(".", "\n", 1), "line breaks"),
        (GOOD + " Eye contact was 85 😀 overall.", "unexpected characters"),
        (GOOD + " Face verification matched on 98.3%, which a reviewer should.", "mid-phrase"),
        (GOOD + " The session had 98.3% face verification with 1 alert.", "a sentence"),
        (GOOD + " It raised 1 alert, with a reviewer should check the face.", "a sentence"),
        (GOOD + " Looking away from camera was a signals of growth.", "a sentence"),
        (GOOD + " The session did not raised any proctoring alerts.", "a sentence"),
    ],
)
def test_garbage_is_rejected(text, expected):
    problems = validate_summary(text, strong_facts())
    assert any(expected in p for p in problems), problems


def test_names_with_accents_from_the_facts_are_allowed():
    facts = FACT_SETS["info-only"]
    assert "José Núñez" in template_summary(facts)
    assert validate_summary(template_summary(facts), facts) == []


# --- prompt, vocabulary and grammar text ------------------------------------------------


def test_prompt_holds_only_the_facts():
    messages = build_messages(critical_facts())
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    for expected in (
        "Priya Raman",
        "41 out of 100",
        "Weakest measured signal: eye contact at 38",
        "71.5%",
        "Proctoring alerts: 6 in all: ",
        "2 critical alerts for multiple faces, 1 critical alert for a face mismatch, "
        "3 warnings for suspicious objects",
    ):
        assert expected in user
    assert "Voice" not in user and "voice" not in user


def test_vocabulary_trie_matches_exactly_its_words():
    expr = words_gbnf({"alert", "alerts", "all", "also"})
    # Expand the expression's alternatives by brute force over a tiny regex translation.
    regex = expr.replace('"', "").replace(" | ", "|").replace(" ", "")
    assert (
        re.fullmatch(regex, "alerts") and re.fullmatch(regex, "also") and re.fullmatch(regex, "all")
    )
    assert not re.fullmatch(regex, "alert s") and not re.fullmatch(regex, "al")
    assert "report" not in BASE_WORDS  # meta words stay out of summaries


def test_grammar_allows_only_the_facts_numbers_and_opens_with_the_subject():
    grammar = build_grammar(strong_facts())
    assert grammar.startswith(
        'root ::= "John Doe completed a 5-minute video interview for the Software Engineer role at TechCorp"'
    )
    num_rule = next(line for line in grammar.splitlines() if line.startswith("num ::="))
    assert '"86"' in num_rule and '"98.3"' in num_rule and '"92"' not in num_rule
    assert "\\n" not in grammar and "[0-9]" not in grammar
    assert build_grammar(FACT_SETS["short"]).startswith(
        'root ::= "The candidate completed a 20-second'
    )


# --- summarizer without a model ------------------------------------------------------------


def test_missing_model_falls_back_to_the_template_at_once(tmp_path):
    summarizer = LocalSummarizer(tmp_path / "absent.gguf")
    assert not summarizer.available
    result = summarizer.summarize(strong_facts())
    assert result.llm_enhanced is False
    assert "model not available" in result.reason
    assert result.text == template_summary(strong_facts())
    assert result.calls == 0 and result.total_tokens == 0
    assert result.token_consumption() == {
        "total_api_calls": 0,
        "total_tokens_consumed": 0,
        "total_prompt_tokens": 0,
        "total_completion_tokens": 0,
        "average_tokens_per_call": 0,
    }


def test_only_critical_types_may_follow_critical_for():
    from server.llm.samples import FACT_SHEETS

    facts = FACT_SHEETS["everything-wrong"]
    opening = (
        "Chris Doe completed a 17-minute video interview for the Junior Developer role at "
        "Vandelay Industries with a weak overall video score of 18 out of 100."
    )
    wrong = f"{opening} The session raised 18 alerts, 5 of them critical for multiple faces and looking away."
    right = f"{opening} The session raised 18 alerts, 5 of them critical for multiple faces and face mismatches, and 7 for looking away."
    assert any("looking away critical" in p for p in validate_summary(wrong, facts))
    assert not any("critical" in p and "calls" in p for p in validate_summary(right, facts))


def test_worked_examples_pass_the_validator_for_their_own_facts():
    for facts, summary in EXAMPLES:
        assert validate_summary(summary, facts) == []


def test_each_alert_kind_is_given_with_its_own_severity_word():
    from server.llm.samples import FACT_SHEETS

    (line,) = [x for x in fact_lines(FACT_SHEETS["long-90min"]) if x.startswith("Proctoring")]
    assert line == (
        "Proctoring alerts: 9 in all: 6 warnings for looking away, "
        "2 warnings for the face out of view, 1 notice for text in view"
    )
    assert "critical" not in " ".join(fact_lines(FACT_SHEETS["long-90min"]))


def test_grammar_leaves_out_the_severity_words_of_severities_not_raised():
    from server.llm.samples import FACT_SHEETS

    warnings_only = grammar_vocabulary(FACT_SHEETS["warnings-mix"])
    assert "critical" not in warnings_only and {"warning", "notices"} <= warnings_only
    assert {"critical", "warnings"} <= grammar_vocabulary(critical_facts())
    assert "notice" not in grammar_vocabulary(critical_facts())
    clean = grammar_vocabulary(FACT_SHEETS["clean-strong"])
    assert not {"critical", "warning", "warnings", "notice", "notices"} & clean


def test_a_severity_word_before_for_must_fit_the_kinds_after_it():
    from server.llm.samples import FACT_SHEETS

    facts = FACT_SHEETS["everything-wrong"]
    opening = (
        "Chris Doe completed a 17-minute video interview for the Junior Developer role at "
        "Vandelay Industries with a weak overall video score of 18 out of 100."
    )
    each = (
        f"{opening} The session raised 18 alerts, 3 critical alerts for multiple faces, "
        "2 critical alerts for face mismatches, 7 warnings for looking away, 4 warnings for "
        "suspicious objects and 2 warnings for the face out of view."
    )
    assert validate_summary(each, facts) == []
    warning_then_verification = each.replace(
        "face out of view.", "face out of view, and face verification had 12 mismatches."
    )
    assert validate_summary(warning_then_verification, facts) == []
    for wrong, said in (
        ("3 warnings for multiple faces", "calls multiple faces a warning"),
        ("5 of them critical for multiple faces, 4 for suspicious objects", "calls suspicious"),
        ("7 critical alerts for looking away", "calls looking away critical"),
        ("5 critical alerts for multiple faces and face mismatches", "leaves out the alerts"),
    ):
        text = f"{opening} The session raised 18 alerts, {wrong}."
        assert any(said in p for p in validate_summary(text, facts)), wrong


def test_second_draft_prompt_says_what_was_wrong_after_the_same_facts():
    from server.llm.samples import FACT_SHEETS

    facts = FACT_SHEETS["warnings-mix"]
    problems = [
        "calls looking away critical",
        "calls something critical but no critical alert was raised",
        "number 4 is not among the facts' alerts",
    ]
    first = build_messages(facts)
    second = build_messages(facts, problems)
    assert second[:-1] == first[:-1] and second[-1]["role"] == "user"
    # the facts and the instruction come first, as in the first prompt: the cache holds them
    assert second[-1]["content"].startswith(first[-1]["content"])
    told = second[-1]["content"][len(first[-1]["content"]) :]
    assert told.strip() == retry_note(problems, facts)
    assert "It called the alerts for looking away critical" in told
    assert "each of them is a warning" in told
    assert "no alert in this session was critical" in told
    assert "the facts give 7 in all: 3 warnings for looking away" in told


def test_info_level_alerts_are_not_warnings():
    from server.llm.samples import FACT_SHEETS

    facts = FACT_SHEETS["weak-sad"]  # 2 low engagement alerts: info level
    opening = (
        "Ben Carter completed a 7-minute video interview for the Warehouse Supervisor role "
        "with a weak overall video score of 47 out of 100."
    )
    wrong = f"{opening} The session raised 2 alerts, both warnings for low engagement."
    right = f"{opening} The session raised 2 alerts, 2 notices for low engagement."
    assert "calls low engagement a warning" in validate_summary(wrong, facts)
    assert validate_summary(right, facts) == []


def test_a_count_given_for_one_kind_must_be_its_own():
    from server.llm.samples import FACT_SHEETS

    facts = FACT_SHEETS["long-90min"]  # 6 looking away, 2 face out of view, 1 text in view
    opening = (
        "Elena Petrova completed a 90-minute video interview for the Research Scientist role at "
        "Aperture Labs with a solid overall video score of 71 out of 100."
    )
    right = (
        f"{opening} The session raised 9 alerts, 6 warnings for looking away, 2 warnings for "
        "the face out of view and 1 notice for text in view."
    )
    assert validate_summary(right, facts) == []
    wrong = right.replace("6 warnings for looking away", "8 warnings for looking away")
    assert "gives 8 for looking away but 6 were raised" in validate_summary(wrong, facts)
    grouped = right.replace(
        "6 warnings for looking away, 2 warnings for the face out of view",
        "8 warnings for looking away and the face out of view",
    )
    assert validate_summary(grouped, facts) == []


def test_grammar_writes_a_percentage_only_as_the_verification_rate_of_checks():
    from server.llm.samples import FACT_SHEETS

    rules = dict(line.split(" ::= ", 1) for line in build_grammar(strong_facts()).splitlines())
    assert rules["rate"] == '("98" | "98.3") "% of checks"'
    assert '"%"' not in rules["item"] and "rate" in rules["item"]
    unverified = build_grammar(FACT_SHEETS["no-verification"])
    assert "%" not in unverified and "rate ::=" not in unverified
