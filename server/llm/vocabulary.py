"""The closed vocabulary of a summary, and its GBNF form.

A tiny model left to choose any word invents people, places and events. Here every
word it may write is either in ``BASE_WORDS`` (the report's own words and plain
English glue) or in the session's facts. The grammar makes other words impossible
to generate, and the validator rejects them in text from anywhere.
"""
from __future__ import annotations

import re

from .facts import SummaryFacts

WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")

BASE_WORDS = frozenset(
    """
    a about above across after all also although an and another any are around as at average averaged
    be because been before below between both brief briefly but by
    can could did do does during each either entire entirely even every fairly few for from fully
    generally had has have however if in into is it its just largely least less mainly more most mostly
    much neither no none nor not of on once one only or other out over overall per quite rather
    several should slightly so some still such than that the their them then there these this those
    though three through throughout to too twice two under up very was were when where whether which
    while who whose with within without would yet
    candidate candidate's candidates interview interviews session sessions video recording
    score scores scored scoring signal signals measure measured measures metric metrics rating
    strongest weakest highest lowest higher lower high low strong stronger solid mixed weak weaker
    good fair moderate limited reasonable consistent consistently steady steadily stable clear clearly
    notable notably level levels range point points total number result results
    alert alerts raised recorded detected flagged critical warning warnings reviewer reviewers
    check checks checked verification verified identity matched match matching mismatch mismatches
    face faces multiple person persons people phone object objects suspicious text view frame frames
    camera looking away looked look looks eye eyes contact confidence confident engagement engaged posture
    facial expression expressions head stability gesture gestures dominant frequent
    calm happy confused surprised sad angry disgusted fearful
    minute minutes second seconds percent question questions answered answering answer completed complete
    earned showed shown showing show shows maintained maintaining maintain kept keeping remained remaining
    held displayed demonstrated led leading followed noted observed appeared
    visible present presence attention area areas growth strength strengths improvement improve improving
    needs need needed time times instance instances occasional occasionally mainly upright focused
    attentive indicate indicates indicating suggest suggests suggesting reflect reflects reflecting
    concern concerns integrity proctoring role position well further closer
    role's appropriate adequate acceptable solidly strongly weakly moderately noticeably length
    stay stayed stays
    """.split()
)


def fact_words(facts: SummaryFacts, extra_texts: list[str] | tuple[str, ...] = ()) -> frozenset[str]:
    """Words of the facts' texts as written (names keep their capitals)."""
    return frozenset(w.replace("’", "'") for t in [*facts.texts(), *extra_texts] for w in WORD.findall(t))


def vocabulary(facts: SummaryFacts, extra_texts: list[str] | tuple[str, ...] = ()) -> frozenset[str]:
    """Lower-case words a summary of ``facts`` may use."""
    return BASE_WORDS | {w.lower() for w in fact_words(facts, extra_texts)}


def _trie(words: list[str]) -> dict:
    root: dict = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return root


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _gbnf(node: dict) -> str:
    """The trie as one GBNF expression; single-child chains collapse into one literal."""
    alts = []
    for ch in sorted(node):
        if ch == "":
            continue
        chars, child = ch, node[ch]
        while len(child) == 1 and "" not in child:
            (nxt, child), = child.items()
            chars += nxt
        if child == {"": {}}:
            alts.append(_literal(chars))
        else:
            alts.append(_literal(chars) + " " + _gbnf(child))
    body = " | ".join(alts)
    if "" in node:
        return f"({body})?" if body else ""
    return f"({body})" if len(alts) > 1 else body


def words_gbnf(words: frozenset[str] | set[str], capitalised: bool = False) -> str:
    """A GBNF expression matching exactly ``words`` (first letter upper-cased if ``capitalised``)."""
    chosen = sorted({(w[:1].upper() + w[1:]) if capitalised else w for w in words if w})
    return _gbnf(_trie(chosen))
