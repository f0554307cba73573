"""Dataset loaders on small files written by each test, plus the full ../shared train files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_file
from pydantic import ValidationError
from sample_rows import GSM8K_ROWS

from mycelium.data.errors import MyceliumError
from mycelium.data.gold import Gold, GoldProblem
from mycelium.data.loaders import (
    BadRowError,
    LoadResult,
    bundled_sample_path,
    load_problems,
)
from mycelium.data.records import Problem, problem_id

MATH_ROWS = [
    {"problem": "What is $1+1$?", "solution": "We have $1+1=\\boxed{2}$.", "answer": "2",
     "subject": "Prealgebra", "level": 1, "unique_id": "train/prealgebra/1.json"},
    {"problem": "Simplify $\\frac{6}{8}$.", "solution": "It is $\\boxed{\\frac{3}{4}}$.",
     "answer": "\\frac{3}{4}", "subject": "Algebra", "level": None,
     "unique_id": "test/algebra/7.json"},
]


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text(jsonl(rows), encoding="utf-8")
    return path


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep `datasets`' cache inside the test's folder and stay offline."""
    datasets = pytest.importorskip("datasets")
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return cache


# --- GSM8K JSONL -------------------------------------------------------------------------------


def test_gsm8k_jsonl_loads_gold_problems(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", GSM8K_ROWS)
    result = load_problems("gsm8k", path)
    assert isinstance(result, LoadResult)
    assert result.bad == []
    assert len(result.problems) == len(GSM8K_ROWS)
    for item, row in zip(result.problems, GSM8K_ROWS, strict=True):
        assert isinstance(item, GoldProblem)
        assert isinstance(item.problem, Problem)
        assert isinstance(item.gold, Gold)
        assert item.problem.dataset == "gsm8k"
        assert item.problem.text == row["question"]
        assert item.problem.meta == {}
        assert item.problem.id.startswith("gsm8k-")
        assert item.gold.problem_id == item.problem.id
        assert item.gold.solution == row["answer"]
    assert [item.gold.answer for item in result.problems] == ["7", "8", "27", "3,000"]


def test_problem_has_no_answer_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", GSM8K_ROWS[:1])
    item = load_problems("gsm8k", path).problems[0]
    assert "answer" not in Problem.model_fields
    assert "solution" not in Problem.model_fields
    dumped = item.problem.model_dump()
    assert "answer" not in dumped and "solution" not in dumped
    assert "#### 7" not in json.dumps(dumped)
    # extra="forbid": an answer cannot be smuggled in either
    with pytest.raises(ValidationError):
        Problem(id="x", dataset="gsm8k", text="t", answer="7")
    assert item.gold.answer == "7"


def test_ids_are_stable_across_whitespace_and_distinct_across_datasets(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", GSM8K_ROWS[:1])
    respaced = dict(GSM8K_ROWS[0])
    respaced["question"] = "  Tom has 3 apples\nand  buys 4 more.\tHow many apples does he have?\n"
    second = write_jsonl(tmp_path / "b.jsonl", [respaced])
    id_a = load_problems("gsm8k", first).problems[0].problem.id
    id_b = load_problems("gsm8k", second).problems[0].problem.id
    assert id_a == id_b
    # loading the same file twice gives the same id
    assert load_problems("gsm8k", first).problems[0].problem.id == id_a

    # the same text as a MATH problem gets another id
    math_row = {"problem": GSM8K_ROWS[0]["question"], "solution": "$\\boxed{7}$", "answer": "7"}
    math_path = write_jsonl(tmp_path / "m.jsonl", [math_row])
    id_math = load_problems("math", math_path).problems[0].problem.id
    assert id_math.startswith("math-")
    assert id_math != id_a
    assert id_a == problem_id("gsm8k", GSM8K_ROWS[0]["question"])
    assert id_math == problem_id("math", GSM8K_ROWS[0]["question"])

    # different problems get different ids
    ids = [item.problem.id for item in
           load_problems("gsm8k", write_jsonl(tmp_path / "all.jsonl", GSM8K_ROWS)).problems]
    assert len(set(ids)) == len(ids)


def test_math_jsonl_keeps_subject_level_unique_id(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    result = load_problems("math", path)
    assert result.bad == []
    first, second = result.problems
    assert first.problem.dataset == "math"
    assert first.problem.text == "What is $1+1$?"
    assert first.problem.meta == {"subject": "Prealgebra", "level": 1,
                                  "unique_id": "train/prealgebra/1.json"}
    assert second.problem.meta == {"subject": "Algebra", "level": None,
                                   "unique_id": "test/algebra/7.json"}
    assert first.gold.answer == "2"
    assert second.gold.answer == "\\frac{3}{4}"
    assert second.gold.solution == MATH_ROWS[1]["solution"]


# --- malformed rows --------------------------------------------------------------------------


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(jsonl(GSM8K_ROWS[:2]) + '{"question": "oops", "answer": \n'
                    + jsonl(GSM8K_ROWS[2:]), encoding="utf-8")
    with pytest.raises(BadRowError) as caught:
        load_problems("gsm8k", path)
    message = str(caught.value)
    assert f"{path}:3" in message, message
    assert "--skip-bad" in message
    assert isinstance(caught.value, MyceliumError)


def test_skip_bad_counts_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    lines = [
        json.dumps(GSM8K_ROWS[0]),  # 1
        "not json at all",  # 2
        json.dumps(GSM8K_ROWS[1]),  # 3
        "",  # 4: blank lines are skipped silently, but still counted for numbering
        json.dumps({"question": "no answer here"}),  # 5
        json.dumps(GSM8K_ROWS[2]),  # 6
        "[1, 2, 3]",  # 7
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_problems("gsm8k", path, skip_bad=True)
    assert [item.problem.text for item in result.problems] == \
        [row["question"] for row in GSM8K_ROWS[:3]]
    assert [bad.line for bad in result.bad] == [2, 5, 7]
    assert all(bad.source == str(path) for bad in result.bad)
    assert str(result.bad[0]).startswith(f"{path}:2: ")
    assert "malformed JSON" in result.bad[0].reason


def test_missing_field_names_it_and_what_a_row_needs(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "missing.jsonl", [{"question": "How many?"}])
    with pytest.raises(BadRowError) as caught:
        load_problems("gsm8k", path)
    message = str(caught.value)
    assert f"{path}:1" in message
    assert "answer" in message
    assert "needs question, answer" in message

    math_path = write_jsonl(tmp_path / "math.jsonl", [{"problem": "p", "answer": "1"}])
    with pytest.raises(BadRowError) as caught:
        load_problems("math", math_path)
    message = str(caught.value)
    assert "solution" in message
    assert "needs problem, solution, answer" in message
    assert "--dataset" not in message  # a row of neither dataset: no guess

    # a MATH row read as GSM8K (the default dataset): the message names the flag that reads it
    whole_math = write_jsonl(tmp_path / "whole.jsonl",
                             [{"problem": "p", "solution": "s", "answer": "1"}])
    with pytest.raises(BadRowError) as caught:
        load_problems("gsm8k", whole_math)
    assert "pass --dataset math" in str(caught.value)


def test_non_numeric_gsm8k_answer_is_a_bad_row(tmp_path: Path) -> None:
    rows = [GSM8K_ROWS[0],
            {"question": "How many eggs are in a dozen?", "answer": "A dozen is 12.\n#### twelve"},
            GSM8K_ROWS[1]]
    path = write_jsonl(tmp_path / "words.jsonl", rows)
    with pytest.raises(BadRowError) as caught:
        load_problems("gsm8k", path)
    assert f"{path}:2" in str(caught.value)
    assert "twelve" in str(caught.value)

    result = load_problems("gsm8k", path, skip_bad=True)
    assert len(result.problems) == 2
    assert [bad.line for bad in result.bad] == [2]
    assert "twelve" in result.bad[0].reason


def test_gsm8k_answer_without_final_mark_is_a_bad_row(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "nomark.jsonl",
                       [{"question": "How many?", "answer": "It is 3+4 = 7."}])
    result = load_problems("gsm8k", path, skip_bad=True)
    assert result.problems == []
    assert [bad.line for bad in result.bad] == [1]
    assert "####" in result.bad[0].reason


def test_non_utf8_line_is_a_bad_row_and_others_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    bad_line = '{"question": "Caf\u00e9 sells 3 cakes and 4 pies. How many?", ' \
               '"answer": "3+4 = <<3+4=7>>7\\n#### 7"}\n'
    path.write_bytes(
        (json.dumps(GSM8K_ROWS[0]) + "\n").encode("utf-8")
        + bad_line.encode("latin-1")  # \xe9 alone is not UTF-8
        + (json.dumps(GSM8K_ROWS[1]) + "\n").encode("utf-8")
    )
    result = load_problems("gsm8k", path, skip_bad=True)
    assert [item.problem.text for item in result.problems] == \
        [GSM8K_ROWS[0]["question"], GSM8K_ROWS[1]["question"]]
    assert [bad.line for bad in result.bad] == [2]
    assert "not UTF-8" in result.bad[0].reason

    with pytest.raises(BadRowError) as caught:
        load_problems("gsm8k", path)
    assert f"{path}:2" in str(caught.value)
    assert "not UTF-8" in str(caught.value)


# --- names and files -------------------------------------------------------------------------


def test_unknown_dataset_name_lists_the_known_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", GSM8K_ROWS)
    with pytest.raises(MyceliumError) as caught:
        load_problems("svamp", path)
    message = str(caught.value)
    assert "svamp" in message
    assert "gsm8k" in message and "math" in message


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "train.jsonl"
    with pytest.raises(MyceliumError) as caught:
        load_problems("gsm8k", missing)
    assert str(missing) in str(caught.value)
    assert "not found" in str(caught.value)


def test_limit_stops_after_n_good_problems(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(jsonl(GSM8K_ROWS[:2]) + "broken\n" + jsonl(GSM8K_ROWS[2:]), encoding="utf-8")
    assert len(load_problems("gsm8k", path, limit=1).problems) == 1
    # the bad line 3 is never reached with limit=2
    two = load_problems("gsm8k", path, limit=2)
    assert [item.problem.text for item in two.problems] == \
        [row["question"] for row in GSM8K_ROWS[:2]]
    assert two.bad == []
    three = load_problems("gsm8k", path, limit=3, skip_bad=True)
    assert len(three.problems) == 3
    assert [bad.line for bad in three.bad] == [3]
    assert load_problems("gsm8k", path, limit=0).problems == []
    assert len(load_problems("gsm8k", path, limit=100, skip_bad=True).problems) == 4


# --- the `datasets` code path: Parquet, JSON, folders, hub ids --------------------------------


def test_parquet_file_loads_through_datasets(tmp_path: Path, hf_cache: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(GSM8K_ROWS), path)
    calls = spy_load_dataset(monkeypatch, datasets)
    result = load_problems("gsm8k", path)
    assert calls and calls[0][0][0] == "parquet"
    assert result.bad == []
    assert [item.problem.text for item in result.problems] == [r["question"] for r in GSM8K_ROWS]
    assert [item.gold.answer for item in result.problems] == ["7", "8", "27", "3,000"]
    # same ids as the JSONL route
    jsonl_ids = [item.problem.id for item in
                 load_problems("gsm8k", write_jsonl(tmp_path / "t.jsonl", GSM8K_ROWS)).problems]
    assert [item.problem.id for item in result.problems] == jsonl_ids


def test_parquet_math_keeps_meta_and_numbers_bad_rows(tmp_path: Path, hf_cache: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [dict(MATH_ROWS[0]), dict(MATH_ROWS[1], solution=None)]
    path = tmp_path / "math.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(BadRowError) as caught:
        load_problems("math", path)
    assert f"{path}:2" in str(caught.value)
    result = load_problems("math", path, skip_bad=True)
    assert [bad.line for bad in result.bad] == [2]
    assert result.problems[0].problem.meta == {"subject": "Prealgebra", "level": 1,
                                               "unique_id": "train/prealgebra/1.json"}


def test_json_file_loads_through_datasets(tmp_path: Path, hf_cache: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    path = tmp_path / "train.json"
    path.write_text(json.dumps(GSM8K_ROWS), encoding="utf-8")  # one JSON array
    calls = spy_load_dataset(monkeypatch, datasets)
    result = load_problems("gsm8k", path)
    assert calls and calls[0][0][0] == "json"
    assert result.bad == []
    assert [item.problem.text for item in result.problems] == [r["question"] for r in GSM8K_ROWS]


def spy_load_dataset(monkeypatch: pytest.MonkeyPatch, datasets, fake: dict | None = None):
    """Record every datasets.load_dataset call; answer hub ids in `fake` without the network."""
    real = datasets.load_dataset
    calls: list[tuple[tuple, dict]] = []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        if fake is not None and args and args[0] in fake:
            return fake[args[0]]
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", spy)
    return calls


def test_local_folder_loads_like_a_hub_id(tmp_path: Path, hf_cache: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    folder = tmp_path / "my_gsm8k"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", GSM8K_ROWS[:3])
    write_jsonl(folder / "test.jsonl", GSM8K_ROWS[3:])
    hub_id = "someone/gsm8k-copy"
    calls = spy_load_dataset(monkeypatch, datasets, fake={hub_id: GSM8K_ROWS[:3]})

    from_folder = load_problems("gsm8k", folder)
    assert [item.problem.text for item in from_folder.problems] == \
        [row["question"] for row in GSM8K_ROWS[:3]]
    test_split = load_problems("gsm8k", folder, split="test")
    assert [item.problem.text for item in test_split.problems] == [GSM8K_ROWS[3]["question"]]

    from_hub = load_problems("gsm8k", hub_id)
    assert [item.problem.id for item in from_hub.problems] == \
        [item.problem.id for item in from_folder.problems]

    # folder and hub id: the same call shape, `load_dataset(source, config, split=...)`
    assert calls[0] == ((str(folder), None), {"split": "train"})
    assert calls[1] == ((str(folder), None), {"split": "test"})
    assert calls[2] == ((hub_id, None), {"split": "train"})

    # openai/gsm8k gets its "main" config by default
    calls.clear()
    spy_load_dataset(monkeypatch, datasets, fake={"openai/gsm8k": GSM8K_ROWS})
    assert len(load_problems("gsm8k", "openai/gsm8k", limit=2).problems) == 2


def test_hub_errors_become_one_user_error(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def refuse(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(MyceliumError) as caught:
        load_problems("gsm8k", "someone/not-there")
    assert "someone/not-there" in str(caught.value)


# --- the bundled sample ----------------------------------------------------------------------


def test_bundled_sample_has_about_twenty_annotated_gsm8k_problems() -> None:
    path = bundled_sample_path()
    assert path.is_file(), path
    result = load_problems("gsm8k", path)
    assert result.bad == []
    assert 15 <= len(result.problems) <= 25
    for item in result.problems:
        assert item.problem.dataset == "gsm8k"
        assert "<<" in item.gold.solution and ">>" in item.gold.solution, item.problem.id
        assert "####" in item.gold.solution
    assert len({item.problem.id for item in result.problems}) == len(result.problems)


# --- ../shared -------------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize(("dataset", "relative", "count"),
                         [("gsm8k", "gsm8k/train.jsonl", 7473),
                          ("math", "math/train.jsonl", 12000)])
def test_shared_train_files_load_completely(dataset: str, relative: str, count: int) -> None:
    result = load_problems(dataset, shared_file(relative), skip_bad=True)
    assert result.bad == []
    assert len(result.problems) == count
    assert all(item.problem.dataset == dataset for item in result.problems)
