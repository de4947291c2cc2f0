"""Part 5, retrieval quality: `docbot eval` against the tutorial pipeline on tests/eval's question sets.

    .venv/bin/python -m bench.quality [--quick] [--index-ready]

docbot: `docbot eval SET --k 2,4,8 --json` on its index of the whole corpus (k distinct pages, hybrid).
Tutorial: bench/tutorial.py's dense-only FAISS index of the same files (reused from bench-out/ when it was
built from exactly these files, as the ingestion part leaves it), scored by the same functions of
bot/evaluate.py. The tutorial's hit@k counts its k nearest chunks, as its main.py fetched them (two chunks
of one page are one page); its MRR ranks the distinct pages of its 8 nearest chunks.
Retrieval is deterministic, so each figure is one run.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    BENCH_OUT,
    CORPUS_INDEX_DIR,
    TUTORIAL_INDEX_DIR,
    Goal,
    Section,
    corpus_part_parser,
    corpus_part_ready,
    corpus_pdfs,
    docbot_env,
    eval_questions_paths,
    index_runtimes,
    write_results,
)
from devtools.eval_sets import BLIND_SETS

if TYPE_CHECKING:
    from bench.tutorial import TutorialIndex
    from bot.evaluate import SearchFn

PART = "quality"
TITLE = "Retrieval quality"
KS = (2, 4, 8)
KS_ARG = ",".join(map(str, KS))


def docbot_eval(questions: list[Path]) -> dict[str, Any]:
    """The JSON report of `docbot eval SET... --k 2,4,8 --json` on the corpus index (sets pooled)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "eval", *map(str, questions), "--k", KS_ARG, "--json"],
        env=docbot_env(),
        cwd=BENCH_OUT,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def tutorial_eval(questions: list[Path], index: TutorialIndex) -> dict[str, Any]:
    """bot/evaluate.py's report for the tutorial: hit@k from its k nearest chunks, MRR from its top 8."""
    from bot.evaluate import evaluate, load_questions

    loaded = [question for path in questions for question in load_questions(path)]

    def nearest(k: int) -> SearchFn:
        return lambda question, _depth: index.search(question, k)

    deepest: dict[str, Any] = evaluate(loaded, nearest(max(KS)), KS).to_dict()
    for k in KS:
        at_k: dict[str, Any] = evaluate(loaded, nearest(k), [k]).to_dict()
        deepest["overall"][f"page_hit@{k}"] = at_k["overall"][f"page_hit@{k}"]
        for doc, scores in at_k["per_doc"].items():
            deepest["per_doc"][doc][f"page_hit@{k}"] = scores[f"page_hit@{k}"]
    return deepest


def table(name: str, tutorial: dict[str, Any], docbot: dict[str, Any]) -> Section:
    """One row per document and an overall row, tutorial and docbot side by side."""
    header = ["document", "n"]
    for k in KS:
        header += [f"hit@{k} tutorial", f"hit@{k} docbot"]
    header += ["MRR tutorial", "MRR docbot"]
    rows = [_row(doc, tutorial["per_doc"][doc], docbot["per_doc"][doc]) for doc in sorted(docbot["per_doc"])]
    rows.append(_row("**all**", tutorial["overall"], docbot["overall"]))
    notes = [
        f"Misses at k={max(KS)} (no correct page): tutorial {len(tutorial['misses'])}, "
        f"docbot {len(docbot['misses'])}."
    ]
    return Section(
        heading=f"{name} ({docbot['overall']['n']} questions)", header=header, rows=rows, notes=notes
    )


def _row(name: str, tutorial: dict[str, Any], docbot: dict[str, Any]) -> list[str]:
    cells = [name, str(docbot["n"])]
    for k in KS:
        cells += [f"{tutorial[f'page_hit@{k}']:.3f}", f"{docbot[f'page_hit@{k}']:.3f}"]
    return [*cells, f"{tutorial['mrr']:.3f}", f"{docbot['mrr']:.3f}"]


BLIND = "blind"  # the blind sets, pooled into one report
BAR = {"page_hit@4": 0.95, "page_hit@2": 0.85}  # issue 2's bar for questions docbot was not tuned on


def bar_goal(blind: dict[str, Any]) -> Goal:
    """Issue 2's bar (page-hit@4 >= 0.95, page-hit@2 >= 0.85) on the pooled blind questions."""
    docbot = blind["docbot"]["overall"]
    short = [f"{key} {docbot[key]:.3f} < {bar}" for key, bar in BAR.items() if docbot[key] < bar]
    return Goal(
        goal="Issue 2's quality bar on questions written blind",
        target="page-hit@4 ≥ 0.95 and page-hit@2 ≥ 0.85",
        measured=f"{docbot['n']} blind questions: hit@4 {docbot['page_hit@4']:.3f}, "
        f"hit@2 {docbot['page_hit@2']:.3f}, MRR {docbot['mrr']:.3f}",
        met=not short,
        why="; ".join(short),
    )


def goal_of(sets: dict[str, dict[str, Any]]) -> Goal:
    """docbot's page-hit@k and MRR not lower than the tutorial's on every set."""
    lower = []
    measured = []
    for name, both in sets.items():
        tutorial, docbot = both["tutorial"]["overall"], both["docbot"]["overall"]
        for key in [*(f"page_hit@{k}" for k in KS), "mrr"]:
            if docbot[key] < tutorial[key]:
                lower.append(f"{name} {key}: docbot {docbot[key]:.3f} < tutorial {tutorial[key]:.3f}")
        measured.append(
            f"{name}: hit@2 {docbot['page_hit@2']:.2f} vs {tutorial['page_hit@2']:.2f}, "
            f"hit@4 {docbot['page_hit@4']:.2f} vs {tutorial['page_hit@4']:.2f}"
        )
    return Goal(
        goal="Retrieval quality no lower than the tutorial's (docbot vs tutorial)",
        target="page-hit@2/4/8 and MRR ≥ tutorial on every set",
        measured="; ".join(measured),
        met=not lower,
        why="; ".join(lower),
    )


def chart_of(sets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Chart panel: page-hit@2 and @4, tutorial vs docbot, per question set."""
    groups, tutorial, docbot = [], [], []
    for name, both in sets.items():
        for k in (2, 4):
            groups.append(f"{name}\nhit@{k}")
            tutorial.append(both["tutorial"]["overall"][f"page_hit@{k}"])
            docbot.append(both["docbot"]["overall"][f"page_hit@{k}"])
    return {
        "Retrieval quality (page-hit rate)": {
            "unit": "fraction of questions",
            "higher_is_better": True,
            "groups": groups,
            "series": {"tutorial": tutorial, "docbot": docbot},
        }
    }


def main() -> None:
    """Evaluate both pipelines on both sets and write bench/results/quality.json."""
    parser = corpus_part_parser(__doc__, quick_help="same as a full run (retrieval is deterministic)")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not corpus_part_ready("quality", args.index_ready):
        return
    from bench.tutorial import load_or_build

    index, reused = load_or_build(corpus_pdfs(), TUTORIAL_INDEX_DIR)
    sets: dict[str, dict[str, Any]] = {}
    paths = eval_questions_paths()
    groups = {path.stem: [path] for path in paths} | {BLIND: [p for p in paths if p.name in BLIND_SETS]}
    for name, group in groups.items():
        sets[name] = {"tutorial": tutorial_eval(group, index), "docbot": docbot_eval(group)}
    goals = [goal_of(sets), bar_goal(sets[BLIND])]
    sections = [table(name, both["tutorial"], both["docbot"]) for name, both in sets.items()]
    runtimes = ", ".join(index_runtimes(CORPUS_INDEX_DIR)) or "unrecorded"
    sections[-1].notes += [
        "docbot's weights were tuned on questions.jsonl and holdout.jsonl's misses were read; holdout2-11 "
        "were written blind (by people who never ran docbot's retrieval), each scored once before its "
        "misses were read (holdout3's never were); 'blind' pools those 300 questions.",
        f"docbot's index was built with its defaults (embedding runtime: {runtimes}); the tutorial's with "
        "sentence-transformers on torch. Tutorial hit@k: its k nearest chunks, as its main.py fetched them "
        "(two chunks of one page count once); docbot hit@k: its k passages, one per page.",
    ]
    record = {
        "ks": list(KS),
        "docbot_index_runtimes": index_runtimes(CORPUS_INDEX_DIR),
        "tutorial_index": {"reused": reused, **index.timings.to_dict()},
        "sets": sets,
    }
    path = write_results(
        PART, record, title=TITLE, goals=goals, sections=sections, chart=chart_of(sets), quick=args.quick
    )
    for name, both in sets.items():
        t, d = both["tutorial"]["overall"], both["docbot"]["overall"]
        print(f"quality {name}: " + ", ".join(f"{key} tutorial {t[key]} docbot {d[key]}" for key in t))
    print(f"quality: wrote {path}")


if __name__ == "__main__":
    main()
