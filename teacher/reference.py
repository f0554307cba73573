"""Teacher traces over the dataset's own worked solutions (the `reference` CoT source).

    traces = reference_traces(teacher, gold_problems, GenerationConfig())

A weak teacher (SmolLM2-135M solves about 1% of GSM8K) writes chains-of-thought that are
rarely right, but its attention over a *correct* solution is a real signal. So instead of
generating, the worked solution is placed after the chat-formatted problem, exactly where the
teacher's own answer would go, and the same teacher-forced capture pass runs over it. The prompt
is built as for generation (`generate.build_prompt`) and the CoT ids and char offsets come from
the same incremental decoding (`generate.cot_offsets`), so capture, signals and labels treat a
reference trace like a generated one.

The solution text: GSM8K's with its `<<48/2=24>>` calculator annotations removed (the prose
around them already states each computation; the `#### 72` answer line stays), MATH's as
written. Gold text enters only these training traces; inference never builds one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mycelium.data.gold import GoldProblem
from mycelium.data.records import TeacherTrace
from mycelium.teacher.generate import GenerationConfig, build_prompt, cot_offsets
from mycelium.teacher.models import Teacher, TeacherTokenizer

COT_SOURCES = ("generate", "reference")

_ANNOTATION = re.compile(r"<<[^<>]*>>")


def reference_cot(item: GoldProblem) -> str:
    """The worked solution as the teacher reads it: GSM8K annotations removed."""
    solution = item.gold.solution
    return _ANNOTATION.sub("", solution) if item.problem.dataset == "gsm8k" else solution


def reference_traces(teacher: Teacher | TeacherTokenizer, items: Sequence[GoldProblem],
                     config: GenerationConfig | None = None,
                     progress=None) -> list[TeacherTrace]:
    """One TeacherTrace per problem, in order, whose CoT is the reference solution.
    `progress(n)` is called as problems are done (every 50, and at the end)."""
    config = config or GenerationConfig()
    traces: list[TeacherTrace] = []
    for index, item in enumerate(items):
        prompt, prompt_ids, spans = build_prompt(teacher.tokenizer, item.problem.text, config)
        ids = teacher.tokenizer(reference_cot(item), add_special_tokens=False)["input_ids"]
        cot_text, cot_spans = cot_offsets(teacher.tokenizer, ids)
        traces.append(TeacherTrace(
            problem_id=item.problem.id, teacher=teacher.name, prompt_text=prompt,
            prompt_ids=prompt_ids, prompt_problem_spans=spans, cot_text=cot_text,
            cot_ids=list(ids), cot_spans=cot_spans, finished=True))
        if progress is not None and ((index + 1) % 50 == 0 or index + 1 == len(items)):
            progress(50 if (index + 1) % 50 == 0 else (index + 1) % 50)
    return traces
