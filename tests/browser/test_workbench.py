"""The web workbench in a real browser (Debian's Chromium driven by Playwright) against `tunesmith serve`:
upload -> index -> train (live loss, cancel) -> chat side by side -> evaluate -> gate -> promote.
Screenshots of every page go to test-artifacts/browser/ (or $TUNESMITH_ARTIFACTS).

The pages, the job worker and the API are what is tested, so the model is the tiny one of the bundled
model's family (tests/tiny_model.py), with the real tokenizer the loss-mask view shows; the demo test runs
the same stages on the real model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import EXAMPLE, REPO, free_port, wait_healthy

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(os.environ.get("TUNESMITH_ARTIFACTS", REPO / "test-artifacts")) / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
JOB_TIMEOUT_MS = 420_000


def _project(folder: Path, model: Path) -> Path:
    """The example project, with an evaluation and gates small enough for a browser walk on 2 CPU cores."""
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("runs", "mlflow", ".tunesmith"))
    cfg = yaml.safe_load((folder / "tunesmith.yaml").read_text())
    cfg["models"] = {"base": str(model)}
    cfg["eval"].update(
        metrics=["rouge_l", "style"],
        systems=["base", "finetuned", "finetuned+rag"],
        probe=False,
        bootstrap=200,
        max_new_tokens=64,
    )
    # the browser walk needs a gate this tiny fine-tune can pass; the model-driven checks run in the demo test
    cfg["gates"] = {
        "checks": [{"name": "company voice", "metric": "style", "system": "finetuned", "min": 0.0}],
        "pii": None,
        "retention": None,
    }
    (folder / "tunesmith.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


def _upload_file(folder: Path) -> Path:
    """36 tickets as OpenAI chat examples, then two broken rows the page must show with their line numbers."""
    system = "You are Northwind Outfitters' customer support assistant."
    rows = [json.loads(line) for line in (EXAMPLE / "data" / "golden.jsonl").read_text().splitlines()[:36]]
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": r["ticket"]},
                    {"role": "assistant", "content": r["reply"]},
                ]
            }
        )
        for r in rows
    ]
    lines += ['{"messages": [{"role": "user", "content": "unfinished"', json.dumps({"messages": []})]
    path = folder / "tickets.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[dict]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: `apt-get install chromium` (make test installs it)")
    folder = _project(tmp_path_factory.mktemp("ui") / "northwind", tiny_model)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", "--project", str(folder), "--port", str(port)],
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}/health", timeout=180)
        yield {"url": f"http://127.0.0.1:{port}/", "dir": folder, "process": process}
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the server, its worker and any training child
            process.wait()
        # a stopped server leaves no worker behind
        pattern = f"tunesmith worker --project {folder}"
        for _ in range(30):
            if (
                shutil.which("pgrep") is None
                or subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode
            ):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the worker outlived its server: {pattern}")


def _unlabelled(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Form controls a screen reader would announce without a name."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main input, main select, main textarea, main button')]
            .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 120))"""
    )


def _start_job(page, kind: str, inputs: dict[str, str], values: dict[str, object]) -> str:  # type: ignore[no-untyped-def]
    page.goto(page.url.split("#")[0] + "#/jobs")
    picker = page.get_by_label("Kind of job")
    if picker.input_value() != kind:  # selecting the shown kind again would reload the form under our hands
        picker.select_option(kind)
    page.wait_for_selector(f'#job-form[data-kind="{kind}"] details')
    for name, run in inputs.items():
        page.get_by_label(f"{name} run").select_option(run)
    for path, value in values.items():
        page.locator(f'[name="{path}"]').fill(str(value))
    page.get_by_role("button", name="Start job").click()
    page.wait_for_url("**/#/jobs/task-*")
    return page.url.rsplit("/", 1)[-1]


def _until(page, check, timeout_ms: int) -> None:  # type: ignore[no-untyped-def]
    """Poll ``check`` from Python: Playwright's `wait_for_function` evaluates its predicate with `eval`, which the
    workbench's Content-Security-Policy (rightly) refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the page"
        page.wait_for_timeout(200)


def _wait_status(page, status: str, timeout: int = JOB_TIMEOUT_MS) -> None:  # type: ignore[no-untyped-def]
    """Until the job page shows ``status`` or a final one; then it must be ``status``."""
    badge = page.locator("main p .badge").first
    _until(
        page,
        lambda: badge.count() > 0 and badge.text_content() in (status, "succeeded", "failed", "cancelled"),
        timeout,
    )
    shown = page.locator("main p .badge").first.text_content()
    assert shown == status, page.locator("main").inner_text()[:3000]


def _prompt_tokens(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(text.split(" prompt tokens")[0]) for text in page.locator(".pane .meta").all_inner_texts()]


def test_upload_train_chat_evaluate_promote(server: dict) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = server["url"]
    upload = _upload_file(server["dir"].parent)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # generous: a cold machine loads the embedder on the first search; failures still fail, only later
        page.set_default_timeout(120_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # the pages run under a strict Content-Security-Policy: anything it refuses is a bug of the page
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            assert not _unlabelled(page), _unlabelled(page)

        # -- overview; keyboard: the first Tab reaches the skip link, a nav link works from the keyboard
        page.goto(url)
        page.wait_for_selector("#next-step")
        assert "Build the dataset" in page.locator("#next-step").inner_text()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        shot("01-overview")
        page.get_by_role("navigation").get_by_role("link", name="Datasets", exact=True).focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:text('Datasets')")
        assert page.evaluate("document.activeElement.tagName") == "H1"  # focus moves to the new page's heading
        assert (
            page.get_by_role("navigation")
            .get_by_role("link", name="Datasets", exact=True)
            .get_attribute("aria-current")
            == "page"
        )

        # -- upload: 36 valid rows split, 2 broken rows shown with their line numbers (and kept in rejects)
        page.get_by_label("Examples file", exact=False).set_input_files(str(upload))
        page.get_by_role("button", name="Upload and validate").click()
        page.wait_for_selector("ul.problems li")
        problems = page.locator("ul.problems li").all_inner_texts()
        assert len(problems) == 2 and problems[0].startswith("line 37") and problems[1].startswith("line 38")
        assert "38 rows read" in page.locator("#upload-report").inner_text()
        shot("02-upload")
        page.get_by_role("link", name="Open dataset").click()
        page.wait_for_selector("details.example")
        dataset_run = page.url.rsplit("/", 1)[-1]
        page.get_by_label("Search", exact=True).fill("refund")
        page.get_by_role("button", name="Filter").click()
        # the filtered list, not the unfiltered one the page loaded first (a stale answer never overwrites it)
        page.locator("#examples p", has_text="match “refund”").first.wait_for()
        first = page.locator("details.example").first
        first.locator("summary").click()
        first.get_by_role("button", name="Show loss mask").click()
        page.wait_for_selector(".mask .t.trained")
        trained_text = "".join(page.locator(".mask .t.trained").all_text_contents())
        assert "Northwind Support Team" in trained_text and "You are Northwind" not in trained_text
        assert page.locator("#rejects tbody tr").count() == 2
        assert page.locator("figure.chart svg rect").count() > 0  # the token-length histogram
        shot("03-dataset")

        # -- index the knowledge base from a job, then search it
        _start_job(page, "kb", {}, {})
        _wait_status(page, "succeeded")
        page.get_by_role("navigation").get_by_role("link", name="Knowledge base", exact=True).click()
        page.get_by_label("Search", exact=True).fill("how long does a refund take")
        page.get_by_role("button", name="Search").click()
        page.wait_for_selector("ol.hits li")
        assert "kb/" in page.locator("ol.hits li").first.inner_text()
        shot("04-knowledge")

        # -- train from the schema form (6 steps), watch the loss curve live, and stay responsive meanwhile
        job = _start_job(
            page,
            "train",
            {"data": dataset_run},
            {"train.max_steps": 8, "train.batch_size": 2, "train.stop_check": 0, "train.eval_steps": 4},
        )
        # the curve draws while the job runs, a point per logged step (on a fast machine the job may end first)
        badge = page.locator("main p .badge").first

        def drawn_or_done() -> bool:
            shown = badge.text_content() if badge.count() else None
            return shown in ("succeeded", "failed") or (
                shown == "running" and page.locator("figure.chart circle").count() >= 2
            )

        _until(page, drawn_or_done, JOB_TIMEOUT_MS)
        shot("05-train-live")
        # the server answers the other pages while the worker trains
        other = browser.new_page()
        other.goto(url + f"#/datasets/{dataset_run}")
        other.wait_for_selector("details.example")
        other.close()
        _wait_status(page, "succeeded")
        train_run = httpx.get(url + f"ui/api/jobs/{job}").json()["run"]
        curve = httpx.get(url + f"ui/api/jobs/{job}").json()["curve"]
        assert [p["step"] for p in curve if "loss" in p] == list(range(1, 9)) and any("eval_loss" in p for p in curve)
        assert page.locator("figure.chart circle").count() >= 8 + 2  # every training point and the validation ones
        shot("06-train-done")

        # -- cancel: a second training job stops when asked
        _start_job(page, "train", {"data": dataset_run}, {"train.max_steps": 200, "train.batch_size": 2})
        _wait_status(page, "running", timeout=60_000)
        page.get_by_role("button", name="Cancel job").click()
        _wait_status(page, "cancelled", timeout=60_000)
        cancelled = httpx.get(url + f"ui/api/jobs/{page.url.rsplit('/', 1)[-1]}").json()
        assert cancelled["args"][:4] == ["train", "--json", "--data", dataset_run], cancelled["args"]

        # -- playground: base vs the fine-tune vs the fine-tune with retrieval, on one prompt
        page.get_by_role("navigation").get_by_role("link", name="Playground", exact=True).click()
        page.wait_for_selector("#panes .pane")
        fine_tuned = next(m for m in httpx.get(url + "v1/models").json()["data"] if m["id"].endswith(train_run))["id"]
        page.get_by_label("Model", exact=True).nth(1).select_option(fine_tuned)
        page.get_by_role("button", name="Add a model").click()
        page.get_by_label("Model", exact=True).nth(2).select_option(fine_tuned)
        page.locator('[name="rag-3"]').check()
        page.get_by_label("Max new tokens").fill("40")
        page.get_by_label("Prompt", exact=False).fill("Hi, I returned my boots last week. When will I get my refund?")
        page.get_by_label("Prompt", exact=False).press("Control+Enter")
        _until(page, lambda: page.locator(".pane .meta", has_text="completion tokens").count() == 3, 180_000)
        assert page.locator(".pane").nth(2).locator(".citations li").count() > 0
        assert page.locator(".pane").nth(0).locator(".citations li").count() == 0
        first_prompt_tokens = _prompt_tokens(page)
        # a follow-up goes with the conversation so far: each pane's transcript holds both exchanges
        page.get_by_label("Prompt", exact=False).fill("Thanks! Can I exchange them for a bigger size instead?")
        page.get_by_role("button", name="Send to all").click()
        transcripts = page.locator(".pane .transcript")
        _until(
            page,
            lambda: (
                all(transcripts.nth(i).locator(":scope > *").count() == 4 for i in range(transcripts.count()))
                and page.locator(".pane[aria-busy]").count() == 0
            ),
            180_000,
        )
        assert all(later > first for later, first in zip(_prompt_tokens(page), first_prompt_tokens, strict=True))
        shot("07-playground")

        # -- evaluate the fine-tune from a form, then read the grid and the side-by-side outputs
        _start_job(page, "eval", {"data": dataset_run, "train": train_run}, {"eval.limit": 3})
        _wait_status(page, "succeeded")
        page.get_by_role("link", name="Open the evaluation").click()
        page.wait_for_selector("article.example-pair")
        assert page.locator("figure.chart line").count() >= 6  # interval whiskers
        assert page.locator("article.example-pair").count() == 3
        shot("08-evaluation")

        # -- review: grade two outputs and prefer one of a pair, from the keyboard, blind until judged
        page.get_by_role("link", name="Review these outputs by hand").click()
        page.get_by_label("Your name").fill("ana")
        page.get_by_label("Your name").press("Tab")
        page.wait_for_selector("article.review")
        page.locator("article.review").focus()
        for done, keys in enumerate((("p", "4"), ("f", "2")), start=1):
            for key in keys:
                page.keyboard.press(key)
            assert page.get_by_role("button", name=f"Score {keys[1]}").get_attribute("aria-pressed") == "true"
            page.keyboard.press("Enter")
            page.locator("article.review", has_text=f"{done} of 9 labelled by ana").wait_for()
        assert "Saved: that was" in page.locator("#review-status").inner_text()
        page.get_by_label("Mode").select_option("pairwise")
        page.wait_for_selector("article.review h3:text('Reply 2')")
        assert "finetuned" not in page.locator("article.review").inner_text()  # blind
        page.locator("article.review").focus()
        page.keyboard.press("ArrowLeft")
        page.locator("#review-status", has_text="Saved: 1 was").wait_for()
        labels = [json.loads(line) for line in (server["dir"] / "labels" / "labels.jsonl").read_text().splitlines()]
        assert [(lab["kind"], lab.get("passed"), lab.get("score")) for lab in labels] == [
            ("grade", True, 4),
            ("grade", False, 2),
            ("pairwise", None, None),
        ]
        assert labels[2]["preferred"] == labels[2]["systems"][0]  # the first reply shown was preferred
        shot("08b-review")
        page.goto(page.url.replace("#/review/", "#/evaluations/"))
        page.wait_for_selector("article.example-pair")

        # -- gate it and promote the version it registers
        page.get_by_role("link", name="Run the release gate on this evaluation").click()
        page.wait_for_selector('#job-form[data-kind="gate"] details')
        assert page.get_by_label("eval run").input_value() == page.url.split("eval=")[-1]
        page.get_by_role("button", name="Start job").click()
        page.wait_for_url("**/#/jobs/task-*")
        _wait_status(page, "succeeded")
        assert "GATE PASSED" in page.locator("main").inner_text()
        page.get_by_role("link", name="Open the release").click()
        page.wait_for_selector("article.release")
        page.get_by_role("button", name="Promote version 1").click()
        page.wait_for_selector("text=northwind-support@production → version 1")
        # lineage: from the uploaded file to the deployment just made
        page.locator("details.lineage summary").first.click()
        page.wait_for_selector("details.lineage .tree li")
        tree = page.locator("details.lineage .tree").first.inner_text()
        assert "tickets.jsonl" in tree and f"training run {train_run}" in tree and "deployment: @production" in tree
        shot("09-releases")

        # the promoted alias is served at once (the catalogue re-reads aliases every few seconds)
        page.get_by_role("navigation").get_by_role("link", name="Overview", exact=True).click()
        page.wait_for_selector("#next-step")
        assert "northwind-support@production" in page.locator("#next-step").inner_text()
        shot("10-overview-after")
        assert not errors, errors
        browser.close()
    deadline = time.time() + 30
    while time.time() < deadline:
        ids = [m["id"] for m in httpx.get(url + "v1/models").json()["data"]]
        if "northwind-support@production" in ids:
            break
        time.sleep(1)
    assert "northwind-support@production" in ids
