"""Continuous batching: requests join and leave the running batch between decoding steps.

The window batcher (`batcher.py`) grouped requests that arrived within a few
milliseconds and decoded the group until its longest answer ended, so a request
arriving a moment later waited for all of it: one 512-token answer held every
short request behind it. Here nothing waits for anything but its turn:

- waiting prompts are prefilled between the decoding steps of the running
  batch, at most `prefill_chunk` tokens per step: short prompts together
  (left-padded), a long one alone in pieces of that size, so a long prompt
  delays the others by one piece at a time, never by its whole length;
- once prefilled it joins the running batch (its KV cache padded on the left to
  the batch's length; positions are per row, so the padding changes no result);
- rows of different LoRA adapters and of the base model share one batch: each
  step runs the base weights once for every row and each adapter's low-rank
  matrices on its own rows, stacked (`models/stacked_lora.py`: no per-step
  hooks, copies or adapter switches; other adapter kinds take PEFT's
  ``adapter_names``, and a run of steps of one of them switches adapters only
  when the model changes, `LocalGenerator.route`). Taking turns instead (a
  batch per adapter, each stepped in turn) reads every base weight once per
  adapter per step, which is what a decoding step on a CPU is made of: two
  models asked side by side answered 1.5-1.8x slower (bench/multi_adapter.py,
  README). DoRA adapters,
  which PEFT cannot mix, keep a batch of their own (`mix_adapters=False`: every
  adapter its own, for comparison in bench/multi_adapter.py);
- a row leaves as soon as it ends (end token, stop string, token limit, or its
  client gone: `Ticket.cancel`), its cache rows are dropped and the leading
  cache columns no remaining row attends to are trimmed;
- admission takes the smallest waiting request first (prompt plus `max_tokens`)
  unless the oldest has waited `max_wait_s`, under two bounds, `max_batch` rows
  and `max_batch_tokens` (rows times the padded length each will reach: the KV
  memory): a short request is not queued behind a crowd of long ones, a long one
  is never overtaken for ever, and the cache never grows past its budget; past
  `max_queue` waiting requests `submit` raises `Busy` (the server's 429).

- with a prompt cache (`prompt_cache.py`), a prompt that begins with tokens the
  server prefilled or answered before (the conversation so far, a shared system
  prompt) starts from their keys and values and prefills only the rest.

Greedy answers are token for token those of `LocalGenerator.generate`
(tests/unit/test_scheduler.py). Models whose cache is not plain per-layer
key/value tensors (sliding-window layers) do not join a running batch: a new
batch starts when the running one ends, which is window batching again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core import cpu
from tunesmith.core.deps import require
from tunesmith.models import kvcache
from tunesmith.models.batch import RunningBatch, left_padded
from tunesmith.models.generation import Generation, GenerationParams
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.prompt_cache import PromptCache


class Busy(Exception):
    """Too many requests are waiting; the client should retry later."""


class Cancelled(Exception):
    """The request was cancelled (its client went away, or the server is stopping)."""


@dataclass(eq=False)
class Ticket:
    """One answer being generated: what the route holds to wait, stream or cancel."""

    prompt_ids: list[int]
    params: GenerationParams
    adapter: str | None
    adapter_path: Path | None
    on_token: Callable[[int], None] | None = None
    """Called from the scheduler's thread with each new token id (streaming)."""
    tenant: str | None = None
    """Whose request this is (a digest of its API key): cached prompts are shared only within a tenant."""
    cached_tokens: int = 0
    """Prompt tokens whose keys and values came from the prompt cache instead of a prefill."""
    future: Future[Generation] = field(default_factory=Future)
    generated: list[int] = field(default_factory=list)
    submitted: float = field(default_factory=time.perf_counter)
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _cache: Any = None  # the prompt's own KV cache while it is prefilled
    _prefilled: int = 0
    _rng: Any = None
    _looked_up: bool = False

    def cancel(self) -> None:
        """Stop generating this answer at the next step (its client went away)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def span(self) -> int:
        """The most cache positions this answer can take."""
        return len(self.prompt_ids) + self.params.max_new_tokens


MIXED = "*"
"""The lane key of the batch whose rows may use any mixable adapter (or none)."""


@dataclass(eq=False)
class _Lane:
    """A running batch: its rows' tickets (each with its own adapter, or all of one) and the batch itself."""

    key: str | None
    tickets: list[Ticket]
    batch: RunningBatch


class Scheduler:
    def __init__(
        self,
        cache: AdapterCache,
        *,
        max_batch: int = 16,
        max_batch_tokens: int = 32768,
        prefill_chunk: int = 512,
        max_queue: int = 256,
        max_wait_s: float = 30.0,
        prompt_cache: PromptCache | None = None,
        mix_adapters: bool = True,
    ) -> None:
        self.cache = cache
        self.mix_adapters = mix_adapters
        self.prompt_cache = prompt_cache
        self.generator = cache.generator
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.prefill_chunk = prefill_chunk
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self._cv = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._prefilling: deque[Ticket] = deque()
        self._lanes: dict[str | None, _Lane] = {}
        self._stopping = False
        self._joinable: bool | None = None
        self._long_turn = False
        self.steps = 0
        self.requests = 0
        self.peak_rows = 0
        self.cancelled = 0
        self.mixed_steps = 0
        self.stacked_steps = 0
        self._dora: dict[Path, bool] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tunesmith-scheduler")
        self._thread.start()

    # -- the routes' side ----------------------------------------------------------------------------
    def submit(
        self,
        prompt_ids: list[int],
        params: GenerationParams,
        adapter: str | None,
        adapter_path: Path | None,
        on_token: Callable[[int], None] | None = None,
        tenant: str | None = None,
    ) -> Ticket:
        ticket = Ticket(list(prompt_ids), params, adapter, adapter_path, on_token, tenant)
        with self._cv:
            if self._stopping:
                raise Cancelled("the server is stopping")
            if len(self._waiting) >= self.max_queue:
                raise Busy(f"{len(self._waiting)} requests are already waiting")
            self._waiting.append(ticket)
            self._cv.notify()
        return ticket

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything waiting or running and stop the thread (the server's graceful shutdown)."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        with self._cv:
            return {
                **({"prompt_cache": self.prompt_cache.stats()} if self.prompt_cache is not None else {}),
                "waiting": len(self._waiting),
                "prefilling": len(self._prefilling),
                "running": sum(len(lane.tickets) for lane in self._lanes.values()),
                "steps": self.steps,
                "requests": self.requests,
                "peak_rows": self.peak_rows,
                "cancelled": self.cancelled,
                "mixed_steps": self.mixed_steps,
                "stacked_steps": self.stacked_steps,
            }

    # -- the scheduler's thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        lease = contextlib.ExitStack()  # this process's share of the cores, held while there is work
        held = False
        while True:
            with self._cv:
                while not (self._waiting or self._prefilling or self._lanes or self._stopping):
                    lease.close()
                    held = False
                    self._cv.wait()
                if self._stopping:
                    break
                self._admit()
            if not held:
                lease.enter_context(cpu.computing())
                held = True
            cpu.rebalance()
            try:
                self._tick()
            except BaseException as exc:  # a failed step fails the requests in it, never the server
                self._fail_running(exc)
        lease.close()
        self._fail_running(Cancelled("the server is stopping"))
        with self._cv:
            for ticket in self._waiting:
                _settle(ticket, Cancelled("the server is stopping"))
            self._waiting.clear()

    def _rows(self) -> list[Ticket]:
        return [*self._prefilling, *(t for lane in self._lanes.values() for t in lane.tickets)]

    def _next(self) -> Ticket:
        """The waiting request to admit next: the smallest (prompt plus `max_tokens`), so a crowd of long
        requests cannot hold a short one back; but one that has waited `max_wait_s` goes first, so a long
        one is never overtaken for ever."""
        head = self._waiting[0]
        if time.perf_counter() - head.submitted >= self.max_wait_s:
            return head
        return min(self._waiting, key=lambda t: (t.span, t.submitted))

    def _admit(self) -> None:
        """Move waiting requests to prefilling, within the row and token budgets."""
        while self._waiting:
            for ticket in [t for t in self._waiting if t.cancelled]:
                self._waiting.remove(ticket)
                self.cancelled += 1
                _settle(ticket, Cancelled("cancelled while waiting"))
            if not self._waiting:
                return
            head = self._next()
            rows = self._rows()
            if rows:
                if len(rows) >= self.max_batch:
                    return
                longest = max(t.span for t in [*rows, head])
                if (len(rows) + 1) * longest > self.max_batch_tokens:
                    return
                lane = self._lanes.get(self._lane_key(head))
                if lane is not None and not self._can_join(lane):
                    return
            self._waiting.remove(head)
            self._prefilling.append(head)

    def _lane_key(self, ticket: Ticket) -> str | None:
        """Which running batch a request joins: the shared one, unless its adapter cannot be mixed."""
        if not self.mix_adapters or self._is_dora(ticket):
            return ticket.adapter
        return MIXED

    def _is_dora(self, ticket: Ticket) -> bool:
        """Whether a request's adapter is DoRA (PEFT refuses those in a mixed batch): from the loaded adapter's
        config, else from its folder's, since the scheduler decides before the adapter is loaded."""
        if ticket.adapter is None:
            return False
        if ticket.adapter in self.generator.adapters:
            return self.generator._is_dora(ticket.adapter)
        path = ticket.adapter_path
        if path is None:
            return False
        if path not in self._dora:
            import json

            try:
                config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                config = {}
            self._dora[path] = bool(isinstance(config, dict) and config.get("use_dora"))
        return self._dora[path]

    def _can_join(self, lane: _Lane) -> bool:
        if self._joinable is None:
            self._joinable = kvcache.editable(lane.batch.cache)
        return self._joinable

    def _tick(self) -> None:
        """One round of prefill (within `prefill_chunk` tokens), then one decoding step of every running batch."""
        while self._prefilling and self._prefilling[0].cancelled:
            self.cancelled += 1
            _settle(self._prefilling.popleft(), Cancelled("cancelled"))
        for ticket in self._prefilling:
            if not ticket._looked_up:
                self._reuse(ticket)
        long = [t for t in self._prefilling if not self._groupable(t)]
        short = len(long) < len(self._prefilling)
        # long prompts (in pieces) and short ones (together) take turns, so neither waits for the other
        if long and (not short or self._long_turn):
            self._prefill_chunk(long[0])
        elif short:
            self._prefill_group()
        self._long_turn = not self._long_turn
        for key in list(self._lanes):
            self._step(self._lanes[key])
        self.steps += 1

    def _busy_adapters(self) -> set[str]:
        """Adapters a running batch or a half-prefilled prompt uses: never evicted."""
        return {t.adapter for t in self._rows() if t.adapter is not None}

    def _forward(self, tickets: list[Ticket], **inputs: Any) -> Any:
        """One forward pass for ``tickets``' rows, each through its own adapter (or none)."""
        torch = require("torch")
        from tunesmith.models.decode import _cache_argument
        from tunesmith.models.skinny_linear import skinny_linears

        generator = self.generator
        used = {t.adapter: t.adapter_path for t in tickets}
        with self.cache.lock:
            for adapter, path in used.items():
                if adapter is not None and path is not None:
                    self.cache.ensure(adapter, path, keep=self._busy_adapters())
            cache = inputs.pop("cache")
            inputs[_cache_argument(generator.model)] = cache
            with generator._lock, torch.inference_mode(), skinny_linears(generator.model):
                if len(used) > 1:
                    self.mixed_steps += 1
                adapters = {a for a in used if a is not None}
                if generator.adapters and generator.stacks().supports(adapters):
                    # plain LoRA: each row through its own adapter's stacked matrices (or none), the base
                    # weights once for every row, whatever the adapter layers' PEFT state
                    self.stacked_steps += 1
                    with generator.stacks().rows([t.adapter for t in tickets]):
                        return generator.model(**inputs, use_cache=True)
                if len(used) > 1:
                    # PEFT's mixed batch: the base weights once for every row, each adapter's matrices on its rows
                    generator._release()  # the adapter layers on (`adapter_names` picks each row's)
                    names = [t.adapter if t.adapter is not None else "__base__" for t in tickets]
                    return generator.model(**inputs, use_cache=True, adapter_names=names)
                adapter = tickets[0].adapter
                if adapter is not None and generator._is_dora(adapter):
                    with generator._using(adapter):  # merged for the step (DoRA unmerged is far slower)
                        return generator.model(**inputs, use_cache=True)
                generator.route(adapter)
                return generator.model(**inputs, use_cache=True)

    def _seed(self, ticket: Ticket) -> None:
        torch = require("torch")
        if ticket.params.seed is not None and ticket._rng is None:
            ticket._rng = torch.Generator(device=self.generator.model.device).manual_seed(ticket.params.seed % 2**63)

    def _scope(self, ticket: Ticket) -> tuple[Any, ...]:
        """What cached keys and values depend on besides the tokens: the adapter (its weights) and the tenant."""
        return (ticket.tenant, ticket.adapter, str(ticket.adapter_path) if ticket.adapter_path else None)

    def _reuse(self, ticket: Ticket) -> None:
        """Start a prompt from the longest cached run of tokens it begins with: only the rest is prefilled."""
        ticket._looked_up = True
        if self.prompt_cache is None or ticket._cache is not None:
            return
        cache, length = self.prompt_cache.take(self.generator.model, self._scope(ticket), ticket.prompt_ids)
        if cache is None:
            return
        ticket._cache, ticket._prefilled, ticket.cached_tokens = cache, length, length
        self._seed(ticket)  # grouped with other short prompts if the rest is short, else prefilled in pieces

    def _remember(self, ticket: Ticket, tokens: list[int], cache: Any, row: int, columns: Any) -> None:
        """Keep the keys and values of ``tokens`` (row ``row`` of ``cache``, at ``columns``) for later prompts."""
        if self.prompt_cache is None or ticket.cancelled:
            return
        # only this thread writes the batch's tensors, so they can be read between steps without a lock
        self.prompt_cache.put(self._scope(ticket), tokens, kvcache.row_copy(cache, row, columns))

    def _prefill_chunk(self, ticket: Ticket) -> None:
        """The next `prefill_chunk` tokens of a long prompt, on its own cache; it joins when the prompt is done."""
        torch = require("torch")
        model = self.generator.model
        device = model.device
        if ticket._cache is None:
            ticket._cache = kvcache.new_cache(model)
            self._seed(ticket)
        start = ticket._prefilled
        end = min(len(ticket.prompt_ids), start + self.prefill_chunk)
        out = self._forward(
            [ticket],
            input_ids=torch.tensor([ticket.prompt_ids[start:end]], device=device),
            attention_mask=torch.ones((1, end), dtype=torch.long, device=device),
            position_ids=torch.arange(start, end, device=device)[None, :],
            logits_to_keep=1,
            cache=ticket._cache,
        )
        ticket._prefilled = end
        if end < len(ticket.prompt_ids):
            return
        self._prefilling.remove(ticket)
        length = len(ticket.prompt_ids)
        self._remember(ticket, ticket.prompt_ids, ticket._cache, 0, torch.arange(length, device=device))
        mask = torch.ones((1, length), dtype=torch.long, device=device)
        self._join([ticket], ticket._cache, mask, out.logits[:, -1, :])
        ticket._cache = None

    def _groupable(self, ticket: Ticket) -> bool:
        """Whether a prompt is prefilled with others: what is left of it fits `prefill_chunk`, and no piece of it
        has been prefilled yet (a cached start is not a piece)."""
        return ticket._prefilled == ticket.cached_tokens and len(ticket.prompt_ids) - ticket._prefilled <= (
            self.prefill_chunk
        )

    def _prefill_group(self) -> None:
        """Short prompts of one running batch (one adapter, or any mixable ones) prefilled together, within `prefill_chunk` padded tokens: each row's
        cached start (if any) padded on the left to the longest, then each row's rest, left-padded. The padding
        sits between a row's cached start and its rest, masked; positions continue from the cached start, so
        every row computes what it would alone."""
        torch = require("torch")
        short = [t for t in self._prefilling if self._groupable(t)]
        key = self._lane_key(short[0])
        group: list[Ticket] = []
        for ticket in short:
            width = max(len(t.prompt_ids) - t._prefilled for t in [*group, ticket])
            if self._lane_key(ticket) != key or (group and (len(group) + 1) * width > self.prefill_chunk):
                break
            group.append(ticket)
        for ticket in group:
            self._prefilling.remove(ticket)
            self._seed(ticket)
        model = self.generator.model
        device = model.device
        rest = left_padded(
            [t.prompt_ids[t._prefilled :] for t in group], self.generator.tokenizer.pad_token_id or 0, device
        )
        held = max(t._prefilled for t in group)
        starts = torch.tensor([t._prefilled for t in group], device=device)
        cache = kvcache.stacked(model, [t._cache for t in group], held) if held else kvcache.new_cache(model)
        # a row's cached start is the last `_prefilled` of the `held` leading columns
        lead = (torch.arange(held, device=device)[None, :] >= (held - starts)[:, None]).to(rest["attention_mask"])
        mask = torch.cat([lead, rest["attention_mask"]], dim=1)
        inputs = {"input_ids": rest["input_ids"], "attention_mask": mask, "position_ids": rest["position_ids"]}
        inputs["position_ids"] = inputs["position_ids"] + starts[:, None]
        out = self._forward(group, **inputs, logits_to_keep=1, cache=cache)
        for row, ticket in enumerate(group):
            ticket._cache = None
            self._remember(ticket, ticket.prompt_ids, cache, row, mask[row].nonzero().squeeze(-1))
        self._join(group, cache, mask, out.logits[:, -1, :])

    def _join(self, tickets: list[Ticket], cache: Any, mask: Any, logits: Any) -> None:
        """Prefilled rows take their first token and join their running batch (those already done leave at
        once)."""
        first = _choose(logits, tickets)
        joining = _Lane(
            self._lane_key(tickets[0]),
            tickets,
            RunningBatch(cache, mask, mask.sum(dim=1), first),  # each row's next position: its real length
        )
        keep = [i for i, (t, token) in enumerate(zip(tickets, first.tolist(), strict=True)) if not self._take(t, token)]
        if not self._keep(joining, keep, registered=False):
            return
        lane = self._lanes.get(joining.key)
        if lane is None:
            self._lanes[joining.key] = joining
        else:
            lane.batch.absorb(joining.batch)
            lane.tickets = lane.tickets + joining.tickets
        self.peak_rows = max(self.peak_rows, sum(len(lane.tickets) for lane in self._lanes.values()))

    def _step(self, lane: _Lane) -> None:
        live = [i for i, t in enumerate(lane.tickets) if not t.cancelled]
        if len(live) < len(lane.tickets):
            for t in lane.tickets:
                if t.cancelled:
                    self.cancelled += 1
                    _settle(t, Cancelled("cancelled"))
            if not self._keep(lane, live):
                return
        inputs = lane.batch.step_inputs()
        out = self._forward(lane.tickets, **inputs)
        chosen = _choose(out.logits[:, -1, :], lane.tickets)
        lane.batch.advance(inputs, chosen)
        keep = [
            i
            for i, (t, token) in enumerate(zip(lane.tickets, chosen.tolist(), strict=True))
            if not self._take(t, token)
        ]
        if len(keep) < len(lane.tickets):
            if self.prompt_cache is not None:
                for row in sorted(set(range(len(lane.tickets))) - set(keep)):
                    self._remember_answer(lane, row)
            self._keep(lane, keep)

    def _remember_answer(self, lane: _Lane, row: int) -> None:
        """A finished answer's prompt and answer, for the conversation's next turn: the row's cache holds every
        token it was fed, which is all but the last chosen one."""
        ticket = lane.tickets[row]
        fed = ticket.prompt_ids + ticket.generated[:-1]
        columns = lane.batch.mask[row].nonzero().squeeze(-1)
        if len(columns) == len(fed):
            self._remember(ticket, fed, lane.batch.cache, row, columns)

    def _keep(self, lane: _Lane, rows: list[int], *, registered: bool = True) -> bool:
        """Keep only ``rows`` of a batch (dropping the others' cache and the columns no row needs);
        False when the batch is gone."""
        if not rows:
            if registered:
                del self._lanes[lane.key]
                with self.cache.lock:  # the adapter it used may now leave, if the budget needs the room
                    self.cache.trim(self._busy_adapters())
            return False
        lane.tickets = [lane.tickets[i] for i in lane.batch.keep(rows)]
        return True

    def _take(self, ticket: Ticket, token: int) -> bool:
        """Record a new token; settle the ticket and return True when its answer is complete."""
        ticket.generated.append(token)
        if ticket.on_token is not None:
            ticket.on_token(token)
        params = ticket.params
        done = token in self._eos() or len(ticket.generated) >= params.max_new_tokens
        if not done and params.stop:
            tail = self.generator.tokenizer.decode(
                ticket.generated[-(max(len(s) for s in params.stop) + 8) :], skip_special_tokens=True
            )
            done = any(s in tail for s in params.stop)
        if done:
            text, tokens, finish = self.generator._finish(ticket.generated, params)
            self.requests += 1
            _settle(
                ticket,
                Generation(
                    text=text,
                    prompt_tokens=len(ticket.prompt_ids),
                    completion_tokens=tokens,
                    finish_reason=finish,
                    latency_s=time.perf_counter() - ticket.submitted,
                    extra={"cached_tokens": ticket.cached_tokens},
                ),
            )
        return done

    def _eos(self) -> set[int]:
        if not hasattr(self, "_eos_ids"):
            self._eos_ids = set(self.generator.stop_token_ids())
        return self._eos_ids

    def _fail_running(self, exc: BaseException) -> None:
        for ticket in self._rows():
            _settle(ticket, exc)
        self._prefilling.clear()
        self._lanes.clear()


def _settle(ticket: Ticket, outcome: Generation | BaseException) -> None:
    if ticket.future.done():
        return
    if isinstance(outcome, BaseException):
        ticket.future.set_exception(outcome)
    else:
        ticket.future.set_result(outcome)
    if ticket.on_token is not None:
        ticket.on_token(-1)  # the end: a streaming route stops waiting for tokens


def _choose(logits: Any, tickets: list[Ticket]) -> Any:
    """Each row's next token: greedy at temperature 0, else nucleus sampling from the row's own generator
    (seeded per request, so a seed gives the same answer whatever else is in the batch)."""
    torch = require("torch")
    chosen = logits.argmax(-1)
    for row, ticket in enumerate(tickets):
        params = ticket.params
        if params.greedy:
            continue
        probs = torch.softmax(logits[row].float() / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs > params.top_p
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
        chosen[row] = torch.multinomial(probs / probs.sum(), 1, generator=ticket._rng).squeeze(-1)
    return chosen
