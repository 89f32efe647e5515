"""`tunesmith label` (grade evaluation outputs by hand) and `tunesmith judge check` (the judge against them)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, emit, load, set_debug
from tunesmith.core.progress import console

judge_app = typer.Typer(help="The LLM judge: check it against human labels.", no_args_is_help=True)

GRADE_KEYS = "p = pass, f = fail, then a 1-5 score (p4, f2, or just 3); s = skip, q = quit"
PAIR_KEYS = "1 = the first reply is better, 2 = the second, t = tie; s = skip, q = quit"


def _who(who: str | None) -> str:
    import getpass

    name = (who or getpass.getuser() or "").strip()
    if not name or len(name) > 100:
        from tunesmith.core.errors import DataError

        raise DataError("a label needs the labeller's name (1-100 characters)", fix="Pass --who NAME.")
    return name


def parse_grade(answer: str) -> tuple[bool | None, int | None] | str:
    """``p4`` -> (True, 4); ``f`` -> (False, None); ``3`` -> (None, 3); ``s``/``q`` as they are; "" -> ``?``."""
    text = answer.strip().lower().replace(" ", "")
    if text in ("s", "q"):
        return text
    passed: bool | None = None
    if text[:1] in ("p", "f"):
        passed, text = text[0] == "p", text[1:]
    if text and not (len(text) == 1 and text in "12345"):
        return "?"
    score = int(text) if text else None
    if passed is None and score is None:
        return "?"
    return passed, score


def register(app: typer.Typer) -> None:
    app.add_typer(judge_app, name="judge")

    @app.command("label")
    def label(
        run: Annotated[
            str | None, typer.Argument(help="Evaluation run (or a pipeline run holding one); default: the latest.")
        ] = None,
        who: Annotated[str | None, typer.Option(help="Your name, stored with each label (default: $USER).")] = None,
        system: Annotated[
            list[str] | None, typer.Option(help="Grade only this system's outputs (repeatable; default: all).")
        ] = None,
        pairwise: Annotated[
            str | None,
            typer.Option(help="Compare two systems instead of grading, e.g. --pairwise base,finetuned (blind)."),
        ] = None,
        redo: Annotated[bool, typer.Option(help="Show outputs you have labelled already, too.")] = False,
        limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many labels.")] = None,
        project: ProjectOpt = Path("."),
        debug: DebugOpt = False,
    ) -> None:
        """Grade an evaluation's outputs by hand (pass/fail and 1-5), or prefer one of two systems' answers.

        Reads answers from standard input, one line each, so it also takes a file: `tunesmith label < answers`.
        Outputs are shown in a shuffled order, pairs in random positions with the systems hidden."""
        set_debug(debug)
        from tunesmith.core.errors import DataError
        from tunesmith.core.jsonl import read_jsonl
        from tunesmith.eval.calibration import label_store
        from tunesmith.eval.compare import eval_runs
        from tunesmith.eval.labels import grade, human_summary, preference, review_items
        from tunesmith.registry.runs import resolve_run

        loaded = load(project, None)
        eval_run = eval_runs([run], loaded.dir)[0] if run else resolve_run(loaded.dir, None, "eval")
        rows = read_jsonl(eval_run.path("outputs.jsonl"))
        known = sorted({r["system"] for r in rows})
        pair: tuple[str, str] | None = None
        if pairwise is not None:
            names = [p.strip() for p in pairwise.split(",")]
            if len(names) != 2 or names[0] == names[1] or any(n not in known for n in names):
                raise DataError(
                    f"--pairwise needs two different systems of this run, got {pairwise!r}",
                    where=str(eval_run.root),
                    fix=f"Pick two of: {', '.join(known)}.",
                )
            pair = (names[0], names[1])
        for name in system or []:
            if name not in known:
                raise DataError(
                    f"the run has no system {name!r}", where=str(eval_run.root), fix=f"Pick from: {', '.join(known)}."
                )
        person = _who(who)
        store = label_store(loaded.dir, loaded.config.eval)
        items = review_items(rows, store.current(), run=eval_run.id, who=person, systems=system or None, pair=pair)
        todo = [item for item in items if redo or item.label is None]
        console.print(
            f"{len(todo)} of {len(items)} {'pairs' if pair else 'outputs'} to label in {eval_run.id} as {person}"
            f" ({GRADE_KEYS if pair is None else PAIR_KEYS})"
        )
        written = 0
        for number, item in enumerate(todo, start=1):
            if limit is not None and written >= limit:
                break
            _show(item, number, len(todo))
            answer = _ask(pair is None)
            if answer == "q":
                break
            if answer == "s":
                continue
            if pair is None:
                passed, score = answer  # type: ignore[misc]
                store.add(grade(run=eval_run.id, row=item.shown[0], who=person, passed=passed, score=score))
            else:
                choice = {"1": "left", "2": "right", "t": "tie"}[str(answer)]
                made = preference(run=eval_run.id, left=item.shown[0], right=item.shown[1], who=person, choice=choice)
                store.add(made)
                console.print(f"[dim]1 was {item.shown[0]['system']}, 2 was {item.shown[1]['system']}[/]")
            written += 1
        console.print(f"{written} labels written to {store.path}")
        from tunesmith.eval.labels import for_rows
        from tunesmith.pipeline import refresh_report

        summary = human_summary(for_rows(store.current(), rows))
        if summary:
            for name, row in summary["systems"].items():
                rate = row.get("pass_rate")
                if rate:
                    console.print(
                        f"{name}: human pass rate {rate['mean']:.2f} [{rate['low']:.2f}, {rate['high']:.2f}] "
                        f"on {rate['n']} examples"
                    )
            report = refresh_report(loaded, eval_run)
            if report is not None:
                console.print(f"report: {report}")

    @judge_app.command("check")
    def check(
        run: Annotated[
            list[str] | None,
            typer.Option("--run", help="Use only labels made on these evaluation runs (repeatable; default: all)."),
        ] = None,
        project: ProjectOpt = Path("."),
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Compare the configured judge (eval.judge) with the human labels: kappa, Spearman/Kendall and pairwise
        accuracy with intervals, and the disagreements worst first. Exit 0 when the judge is trusted."""
        set_debug(debug)
        from tunesmith.core.errors import ConfigError, DataError
        from tunesmith.core.progress import task
        from tunesmith.eval.calibration import check_judge, label_store, record
        from tunesmith.pipeline import Context

        loaded = load(project, None)
        cfg = loaded.config.eval
        if cfg.judge is None:
            raise ConfigError(
                "there is no judge to check", where="eval.judge", fix="Set eval.judge to a local model or an endpoint."
            )
        store = label_store(loaded.dir, cfg)
        labels = [lab for lab in store.current() if not run or lab.run in run]
        if not labels:
            raise DataError(
                "there are no human labels to check the judge against",
                where=str(store.path),
                fix="Label evaluation outputs first: `tunesmith label`, or the Review page of `tunesmith serve`.",
            )
        judge = Context.for_project(loaded).pool.get(cfg.judge)
        with task(f"Judging {len(labels)} labelled items", None):
            result = check_judge(cfg, judge, labels, seed=cfg.seed)
        run_dir = record(loaded.dir, cfg, result, store.path)
        if not json_:
            _print_check(result)
        emit(run_dir.root, {**result, "run_dir": str(run_dir.root)}, json_)
        raise typer.Exit(0 if result["trusted"] else 1)


def _show(item: Any, number: int, total: int) -> None:
    from rich.panel import Panel

    console.rule(f"{number}/{total} · example {item.example}")
    console.print(Panel(item.input, title="input", title_align="left"))
    if item.reference:
        console.print(Panel(item.reference, title="reference", title_align="left", style="dim"))
    for index, shown in enumerate(item.shown, start=1):
        title = "output" if len(item.shown) == 1 else f"reply {index}"
        console.print(Panel(shown["output"] or "(empty)", title=title, title_align="left"))


def _ask(grading: bool) -> Any:
    while True:
        console.print("grade> " if grading else "better> ", end="")
        line = sys.stdin.readline()
        if not line:  # end of input: stop as if asked to
            return "q"
        if grading:
            answer = parse_grade(line)
        else:
            text = line.strip().lower()
            answer = text if text in ("1", "2", "t", "s", "q") else "?"
        if answer != "?":
            return answer
        console.print(f"[yellow]not understood[/]: {GRADE_KEYS if grading else PAIR_KEYS}")


def _print_check(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="judge vs human labels")
    for column in ("statistic", "value [95% CI]", "labels", "threshold", "result"):
        table.add_column(column)
    for name, s in result["statistics"].items():
        verdict = {True: "[green]pass[/]", False: "[red]fail[/]", None: "[dim]not gated[/]"}[s["passed"]]
        table.add_row(
            name,
            f"{s['mean']:.3f} [{s['low']:.3f}, {s['high']:.3f}]",
            str(s["n"]),
            "-" if s["threshold"] is None else f"{s['threshold']:g}",
            verdict + (f" ({s['why']})" if s.get("why") and s["passed"] is None else ""),
        )
    console.print(table)
    shown = result["disagreements"][:10]
    if shown:
        worst = Table(title=f"disagreements, worst first ({len(result['disagreements'])} in all)")
        for column in ("example", "system(s)", "human", "judge", "gap"):
            worst.add_column(column)
        for d in shown:
            systems = d.get("system") or " vs ".join(d.get("systems") or [])
            human = d["human"] if isinstance(d["human"], str) else _grade_text(d["human"])
            worst.add_row(d["example"], systems, human, str(d["judge"]), f"{d['gap']:.2f}")
        console.print(worst)
    style = "bold green" if result["trusted"] else "bold red"
    console.print(f"[{style}]judge {result['reason']}[/]")


def _grade_text(human: dict[str, Any]) -> str:
    parts = []
    if human.get("passed") is not None:
        parts.append("pass" if human["passed"] else "fail")
    if human.get("score") is not None:
        parts.append(f"{human['score']}/5")
    return " ".join(parts)
