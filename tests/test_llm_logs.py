"""A rejected LLM draft leaves no name in the logs: the validator's reasons quote the draft,
and the log line keeps the kind of each reason only (no model needed)."""

from __future__ import annotations

import dataclasses

from server.llm.engine import loggable_reason
from server.llm.samples import strong_candidate
from server.llm.validate import validate_summary

NAME = "Zelda Quirinus"
DRAFTS = [
    # the name where it is not given, repeated, and words from outside the vocabulary
    f"{NAME} {NAME} {NAME} {NAME}, said Quirinus, was Quirinus and Quirinus.",
    # a sentence without a verb and one that stops mid-phrase, both quoting the name
    "Zelda Quirinus of the. Zelda Quirinus interviewed for the role of",
    # the name as the employer and a number that is not among the facts
    "Zelda Quirinus scored 999 as an engineer at Quirinus Zelda Incorporated.",
]


def named(text: str) -> bool:
    return "zelda" in text.lower() or "quirinus" in text.lower()


def test_reasons_keep_their_kind_and_drop_the_drafts_words():
    facts = dataclasses.replace(strong_candidate(), candidate_name=NAME)
    quoted = 0
    for draft in DRAFTS:
        problems = validate_summary(draft, facts)
        assert problems  # the validator rejects every draft here
        quoted += sum(named(p) for p in problems)
        for line in map(loggable_reason, problems):
            assert not named(line), line
            assert len(line) >= 8  # still says what was wrong
    assert quoted >= 3  # the reasons themselves do quote the name's words


def test_plain_reasons_are_kept_as_they_are():
    assert loggable_reason("contains line breaks") == "contains line breaks"
    assert loggable_reason("number 300 is not among the facts' scores and counts") == (
        "number 300 is not among the facts' scores and counts"
    )
    assert loggable_reason("repeats 'Zelda' 4 times") == "repeats ... 4 times"
    assert loggable_reason("does not give the candidate name as given (Zelda Q)") == (
        "does not give the candidate name as given ..."
    )
    assert loggable_reason("a sentence has no verb: 'Zelda of the'") == "a sentence has no verb..."
