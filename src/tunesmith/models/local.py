"""Local models: load once, generate in batches with the KV cache.

Batching is what makes evaluation affordable on a CPU: chats are sorted by
prompt length (so a batch wastes little on padding), padded on the left (so
every row's next token sits at the same position) and decoded together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunesmith.core import cpu
from tunesmith.core.deps import require
from tunesmith.core.errors import ModelSourceError
from tunesmith.models.device import free_memory, pick_device, pick_dtype
from tunesmith.models.generation import Chat, Generation, GenerationParams
from tunesmith.models.loss import per_row_nll
from tunesmith.models.quiet import quiet_libraries
from tunesmith.models.resolve import hub_unavailable_error, local_path
from tunesmith.models.spec import DECODE_ROWS, DECODE_TOKENS, LocalModelRef


@dataclass
class StreamPiece:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def load_tokenizer(
    path: str,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    chat_template: str | None = None,
) -> Any:
    """The tokenizer at ``path`` with a chat template: its own, or ``chat_template`` (Jinja text) in its place.

    Every stage renders chats through the template (training masks, generation, serving), so a model
    without one is refused here with the fix, never rendered some other way."""
    transformers = require("transformers")
    quiet_libraries()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
    if chat_template:
        tokenizer.chat_template = chat_template
    if not getattr(tokenizer, "chat_template", None):
        raise ModelSourceError(
            "the model's tokenizer has no chat template, so chats cannot be rendered the way it expects",
            where=path,
            fix="Use the model's instruction-tuned variant (its tokenizer carries the template), or set "
            "`chat_template:` under the model in tunesmith.yaml to the template (Jinja text, or a .jinja file "
            "in the project), e.g. the template of the model family it was trained from.",
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenizer_for(ref: LocalModelRef, base_dir: Path) -> Any:
    """The tokenizer of a model reference, with the project's `chat_template` when it sets one."""
    return load_tokenizer(
        local_path(ref, base_dir),
        revision=ref.revision,
        trust_remote_code=ref.trust_remote_code,
        chat_template=chat_template_text(ref, base_dir),
    )


def chat_template_text(ref: LocalModelRef, base_dir: Path) -> str | None:
    """`chat_template` as Jinja text: inline, or read from a `.jinja` file inside the project."""
    value = ref.chat_template
    if not value or "{" in value:
        return value
    path = (base_dir / value).resolve()
    if not path.is_relative_to(base_dir.resolve()) or not path.is_file():
        raise ModelSourceError(
            f"chat_template file '{value}' is not a file inside the project",
            fix="Give Jinja text inline, or the path of a .jinja file relative to tunesmith.yaml.",
        )
    return path.read_text(encoding="utf-8")


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """The special tokens the chat template writes right after an assistant's message (`<|eot_id|>`,
    `<|im_end|>`, `<end_of_turn>`, `<|end|>`, `</s>`, ...): the tokens that end an answer, whatever the
    tokenizer calls its end-of-sequence token."""
    marker = "Zq7xWv"
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
    try:
        text = str(tokenizer.apply_chat_template(chat, tokenize=False))
    except Exception:  # a template that refuses this shape has nothing to tell us here
        return []
    after = text[text.rfind(marker) + len(marker) :] if marker in text else ""
    special = set(tokenizer.all_special_ids) | {
        int(i) for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if getattr(t, "special", False)
    }
    ids = []
    for token in tokenizer(after, add_special_tokens=False)["input_ids"]:
        if token not in special:
            if ids:
                break
            continue  # a space or newline before the end token
        ids.append(int(token))
        break
    return ids


def stop_ids(generation_config: Any, tokenizer: Any, end_of_turn: list[int] | None = None) -> list[int]:
    """The tokens that end an answer: the generation config's end-of-sequence ids, the tokenizer's and the chat
    template's end of turn (``end_of_turn`` when already worked out)."""
    ids: set[int] = set()
    config_eos = getattr(generation_config, "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos:
        ids.update(int(i) for i in config_eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    ids.update(end_of_turn_ids(tokenizer) if end_of_turn is None else end_of_turn)
    return sorted(ids)


def load_causal_lm(ref: LocalModelRef, base_dir: Path, *, device: str | None = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, resolved path) for a local reference, weights from safetensors only."""
    transformers = require("transformers")
    quiet_libraries()
    path = local_path(ref, base_dir)
    device = device or pick_device(ref.device)
    dtype = pick_dtype(device, ref.dtype)
    try:
        tokenizer = tokenizer_for(ref, base_dir)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            path,
            dtype=dtype,
            revision=ref.revision,
            trust_remote_code=ref.trust_remote_code,
            # never unpickle weights: safetensors only (pickle can run code)
            use_safetensors=True,
        )
    except OSError as exc:
        if ref.kind == "hub":
            raise hub_unavailable_error(ref.id, ref.revision, exc) from None
        raise ModelSourceError(f"cannot load model: {exc}", where=path) from None
    model.to(device)
    model.eval()
    return model, tokenizer, path


class LocalGenerator:
    """A local causal LM (optionally with LoRA adapters) behind the generation interface."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        batch_size: int = DECODE_ROWS,
        decoding: str = "continuous",
        max_batch_tokens: int = DECODE_TOKENS,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.decoding = decoding
        self.adapters: dict[str, str] = {}
        peft_config = getattr(model, "peft_config", None)
        if isinstance(peft_config, dict):
            # a model fresh from training already carries its adapter(s)
            self.adapters = {name: "" for name in peft_config}
        # One forward pass at a time: the server calls in from several threads.
        self._lock = threading.Lock()
        # whether `route` left the adapter layers off (the base model answering), for the next caller to undo
        self._routed_off = False
        # the adapters' matrices stacked for the server's passes that mix them (models/stacked_lora.py)
        self._stacks: Any = None
        self._end_of_turn: list[int] | None = None
        self._editable: bool | None = None
        if not getattr(tokenizer, "chat_template", None):
            raise ModelSourceError(
                f"model '{name}' has no chat template",
                fix="Use an instruction-tuned model, or one whose tokenizer_config.json has chat_template.",
            )

    @classmethod
    def load(cls, ref: LocalModelRef, base_dir: Path) -> LocalGenerator:
        model, tokenizer, _ = load_causal_lm(ref, base_dir)
        return cls(
            model,
            tokenizer,
            name=ref.display_name,
            batch_size=ref.batch_size,
            decoding=ref.decoding,
            max_batch_tokens=ref.max_batch_tokens,
        )

    # -- adapters ---------------------------------------------------------------
    def add_adapter(self, name: str, path: Path | str) -> None:
        """Attach a LoRA adapter by name; the base weights are shared, not copied."""
        peft = require("peft")
        if name in self.adapters:
            return
        if not (Path(path) / "adapter_model.safetensors").is_file():
            # PEFT would fall back to adapter_model.bin, a pickle: refuse it, as for base weights
            raise ModelSourceError(
                "adapter has no adapter_model.safetensors (pickled weights are not loaded)", where=str(path)
            )
        with self._lock:
            self._release()  # loaded into enabled layers: the layers a new adapter adds start enabled
            if not isinstance(self.model, peft.PeftModel):
                self.model = peft.PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            else:
                self.model.load_adapter(str(path), adapter_name=name)
            self.model.eval()
            self.adapters[name] = str(path)
            self._stacks = None

    def remove_adapter(self, name: str) -> None:
        """Free an adapter's weights (the server's LRU eviction); never the last one loaded."""
        if name not in self.adapters or len(self.adapters) < 2:
            return
        with self._lock:
            self._release()
            remaining = [a for a in self.adapters if a != name]
            if self.model.active_adapter == name:
                self.model.set_adapter(remaining[0])
            self.model.delete_adapter(name)
            del self.adapters[name]
            self._stacks = None

    # -- generation -------------------------------------------------------------
    def render(self, chat: Chat) -> str:
        from tunesmith.models.generation import tools_of

        tools = tools_of(chat)
        if tools or any(m.get("tool_calls") or m.get("role") == "tool" for m in chat):
            from tunesmith.data.template import render

            return render(self.tokenizer, list(chat), generation_prompt=True, tools=tools)
        return str(self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False))

    def parse_calls(self, chats: list[Chat], generations: list[Generation]) -> None:
        """Set each generation's ``tool_calls`` from its text where its chat declared tools (in place)."""
        from tunesmith.data.tools import call_format, parse_tool_calls
        from tunesmith.models.generation import tools_of

        for chat, generation in zip(chats, generations, strict=True):
            tools = tools_of(chat)
            if not tools:
                continue
            names = {t["function"]["name"] for t in tools}
            parsed = parse_tool_calls(generation.text, call_format(self.tokenizer), names)
            generation.tool_calls = parsed.calls or None
            if parsed.warning:
                generation.extra["tool_warning"] = parsed.warning

    def encode(self, text: str) -> list[int]:
        """A rendered prompt's ids, tokenized as training tokenizes the same text (`data.template.encode`)."""
        from tunesmith.data.template import prompt_ids

        return prompt_ids(self.tokenizer, text)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def generate(
        self,
        chats: list[Chat],
        params: GenerationParams,
        *,
        adapter: str | None = None,
        on_progress: Any = None,
        until: list[Callable[[str], bool]] | None = None,
        limits: list[int] | None = None,
    ) -> list[Generation]:
        """Generate for every chat; results come back in input order. ``until[i](text)``, when given, ends
        chat i's answer as soon as it holds for the text so far (finish reason ``stop``): the retention probe
        stops once an accepted answer is there, since nothing written after it can change the score.
        ``limits[i]``: chat i's own token limit (``params.max_new_tokens`` is then the largest), so prompts
        asked with different limits (the gate's probes) share one running batch."""
        texts = [self.render(chat) for chat in chats]
        return self.complete(texts, params, adapter=adapter, on_progress=on_progress, until=until, limits=limits)

    def complete(
        self,
        texts: list[str],
        params: GenerationParams,
        *,
        adapter: str | None = None,
        on_progress: Any = None,
        until: list[Callable[[str], bool]] | None = None,
        limits: list[int] | None = None,
    ) -> list[Generation]:
        """Continue raw texts (already rendered, or cut mid-message as the PII probe does), longest first."""
        if adapter is not None and adapter not in self.adapters:
            raise ModelSourceError(f"adapter '{adapter}' is not loaded", fix=f"Loaded: {sorted(self.adapters)}")
        if until is not None and len(until) != len(texts):
            raise ValueError(f"until has {len(until)} conditions for {len(texts)} texts")
        if limits is not None:
            if len(limits) != len(texts) or min(limits, default=1) < 1:
                raise ValueError(f"limits needs a positive token limit for each of the {len(texts)} texts")
            if len(set(limits)) == 1:
                params, limits = replace(params, max_new_tokens=limits[0]), None
            else:
                params = replace(params, max_new_tokens=max(limits))
        if self.decoding == "continuous" and self._joinable():
            return self._generate_continuous(texts, params, adapter, on_progress, until, limits)
        lengths = [self.count_tokens(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        results: list[Generation | None] = [None] * len(texts)
        budget = self.batch_tokens()
        start = 0
        while start < len(order):
            # longest first: the batch's first prompt is its longest
            rows = max(1, min(self.batch_size, budget // (lengths[order[start]] + params.max_new_tokens)))
            batch = order[start : start + rows]
            start += len(batch)
            conditions = [until[i] for i in batch] if until is not None else None
            caps = [limits[i] for i in batch] if limits is not None else None
            outputs = self._generate_batch([texts[i] for i in batch], params, adapter, conditions, caps)
            for index, output in zip(batch, outputs, strict=True):
                results[index] = output
            if on_progress is not None:
                on_progress(len(batch))
        return [r for r in results if r is not None]

    def score(
        self, chats: list[Chat], references: list[str], *, adapter: str | None = None, batch_size: int = 8
    ) -> list[float]:
        """Mean negative log-likelihood per token of each reference as the assistant's reply to its chat."""
        torch = require("torch")
        tok = self.tokenizer
        rows = []
        for chat, reference in zip(chats, references, strict=True):
            prompt = self.encode(self.render(chat))
            answer = tok(reference, add_special_tokens=False)["input_ids"] + self.stop_token_ids()[:1]
            rows.append((prompt, answer))
        # length-sorted batches waste little on padding; results go back in input order
        order = sorted(range(len(rows)), key=lambda i: -(len(rows[i][0]) + len(rows[i][1])))
        scores: dict[int, float] = {}
        for start in range(0, len(order), batch_size):
            indexes = order[start : start + batch_size]
            batch = [rows[i] for i in indexes]
            width = max(len(p) + len(a) for p, a in batch)
            ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (prompt, answer) in enumerate(batch):
                n = len(prompt) + len(answer)
                ids[row, :n] = torch.tensor(prompt + answer)
                labels[row, len(prompt) : n] = torch.tensor(answer)
                mask[row, :n] = 1
            device = self.model.device
            with self._lock, self._using(adapter), torch.inference_mode():
                base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
                # through the (possibly adapted) decoder, then the output layer on answer positions only
                hidden = base.get_decoder()(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
                values = per_row_nll(hidden, labels.to(device), base.get_output_embeddings())
            scores.update(zip(indexes, values, strict=True))
        return [scores[i] for i in range(len(rows))]

    def _generate_kwargs(self, params: GenerationParams, adapter: str | None, rows: int) -> dict[str, Any]:
        tok = self.tokenizer
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": not params.greedy,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": self.stop_token_ids(),
        }
        if not params.greedy:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            # unset sampling knobs some generation_configs carry, so greedy stays greedy
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        return kwargs

    def route(self, adapter: str | None) -> None:
        """Make the model compute ``adapter`` (None: the base model) until told otherwise, switching only when it
        computes something else; call with ``_lock`` held.

        For the server's decoding steps, one token at a time: PEFT's `disable_adapter` context costs ~40 ms to
        enter and leave on the bundled model (it walks every module twice and checks the model's status) and
        `set_adapter` ~10 ms, against ~50 ms for a whole 2-row decoding step on 2 CPU cores. A run of steps of
        one adapter, or of the base model, now switches once. The other entry points (`_using`, `_decoding`,
        adapter loading) undo a routed-off state first.
        """
        if not self.adapters or self.model.training:
            return
        if adapter is None:
            if not self._routed_off:
                self.model.base_model.disable_adapter_layers()
                self._routed_off = True
            return
        self._release()
        if self.model.active_adapter != adapter:
            self.model.set_adapter(adapter)

    def stacks(self) -> Any:
        """The loaded adapters' stacked LoRA matrices (`models.stacked_lora.AdapterStacks`), built on first
        use after an adapter was loaded or removed; call with ``_lock`` held."""
        if self._stacks is None:
            from tunesmith.models.stacked_lora import AdapterStacks

            self._stacks = AdapterStacks(self.model)
        return self._stacks

    def _release(self) -> None:
        """Switch the adapter layers back on if `route` left them off (the state every other path expects)."""
        if self._routed_off:
            self.model.base_model.enable_adapter_layers()
            self._routed_off = False

    @contextmanager
    def _using(self, adapter: str | None) -> Iterator[None]:
        """Route a whole batch through one adapter (or none).

        Switching the active adapter is ~10% faster than PEFT's per-row
        ``adapter_names`` path, which splits every layer's work by adapter.
        """
        self._release()
        if not self.adapters:
            yield
        elif adapter is None:
            with self.model.disable_adapter():
                yield
        else:
            self.model.set_adapter(adapter)
            if not self._is_dora(adapter):
                yield
                return
            # DoRA recomputes the norm of every adapted weight on each forward pass: fine for a
            # training step, ruinous for token-by-token decoding (measured: minutes for a handful of
            # answers on CPU). Merged for the batch, it costs what the base model costs.
            self.model.merge_adapter()
            try:
                yield
            finally:
                self.model.unmerge_adapter()

    @contextmanager
    def _decoding(self, adapter: str | None) -> Iterator[None]:
        """Route a whole decoding run through one adapter, merged into the weights for the run when that is
        exact and affordable.

        Unmerged, every adapted linear runs its two low-rank matmuls and an add beside the base matmul at
        every token (bench/merged_adapter.py measures the step both ways). The base weights are copied first
        and put back bit for bit afterwards (PEFT's unmerge subtracts the delta again, which rounds), so the
        base model's own answers never drift. Skipped when the copy would not fit comfortably
        (quantized weights, or adapted weights above a quarter of the free memory): then the adapter runs
        unmerged as before. A server step decodes one token for many adapters and never merges.
        """
        self._release()
        saved = self._merge_copies(adapter) if adapter is not None else None
        if saved is None:
            with self._using(adapter):
                yield
            return
        torch = require("torch")
        self.model.set_adapter(adapter)
        self.model.merge_adapter()
        try:
            yield
        finally:
            self.model.unmerge_adapter()
            with torch.no_grad():
                for weight, copy in saved:
                    weight.copy_(copy)

    def _merge_copies(self, adapter: str) -> list[tuple[Any, Any]] | None:
        """(weight, exact copy) of every base weight ``adapter`` adapts, or None when merging is not for
        this run (see ``_decoding``)."""
        if self._is_dora(adapter) or self.model.training:
            return None  # DoRA merges in _using already; a model mid-training is left exactly as it is
        from peft.tuners.lora import LoraLayer

        torch = require("torch")
        weights = []
        for module in self.model.modules():
            if isinstance(module, LoraLayer) and adapter in module.lora_A:
                weight = module.get_base_layer().weight
                if not torch.is_floating_point(weight) or type(weight) is not torch.nn.Parameter:
                    return None  # quantized (bitsandbytes Params4bit / Int8Params): a merge would not be exact
                weights.append(weight)
        if not weights:
            return None
        needed = sum(w.numel() * w.element_size() for w in weights)
        if needed > free_memory(weights[0].device) // 4:
            return None
        return [(w, w.detach().clone()) for w in weights]

    def _is_dora(self, adapter: str) -> bool:
        config = getattr(self.model, "peft_config", {}).get(adapter)
        return bool(getattr(config, "use_dora", False))

    def _finish(self, new: list[int], params: GenerationParams, ended: bool = False) -> tuple[str, int, str]:
        """(text, completion tokens, finish reason) from generated ids; ``ended``: an ``until`` condition
        ended the answer."""
        eos_ids = set(self.stop_token_ids())
        finish, cut = "length", len(new)
        for pos, token in enumerate(new):
            if token in eos_ids:
                cut, finish = pos, "stop"
                break
        text = self.tokenizer.decode(new[:cut], skip_special_tokens=True)
        if params.stop:
            hits = [text.find(s) for s in params.stop if s in text]
            if hits:
                text, finish = text[: min(hits)], "stop"
        # the end-of-turn token counts as generated, as OpenAI-compatible servers count it
        tokens = cut + (1 if cut < len(new) else 0)
        return text.strip(), tokens, "stop" if ended else finish

    def batch_tokens(self) -> int:
        """The KV-cache budget of a batch starting now, in tokens: ``max_batch_tokens``, and at most what half
        the device's free memory holds (the weights are already loaded; the rest is left for activations)."""
        from tunesmith.models import kvcache

        free = free_memory(self.model.device)
        if free <= 0:  # not known here: the setting alone
            return self.max_batch_tokens
        return min(self.max_batch_tokens, free // 2 // kvcache.bytes_per_token(self.model))

    def _joinable(self) -> bool:
        """Whether rows can join a running batch: not for caches with sliding-window layers (Gemma 2 and 3,
        some Mistral and Qwen settings), which decode batch by batch instead."""
        if self._editable is None:
            from tunesmith.models import kvcache

            self._editable = kvcache.editable(kvcache.new_cache(self.model))
        return self._editable

    def _stop_check(
        self,
        params: GenerationParams,
        until: list[Callable[[str], bool]] | None = None,
        ended: set[int] | None = None,
        limits: list[int] | None = None,
    ) -> Any:
        """``stopped(row, ids)`` for the decoders when stop strings, ``until`` conditions or per-row token
        ``limits`` are set, else None; rows an ``until`` condition ended are added to ``ended`` (a row at its
        own limit ends as "length", as at the call's)."""
        if not params.stop and until is None and limits is None:
            return None
        tok = self.tokenizer
        longest = max((len(s) for s in params.stop), default=0)

        def stopped(row: int, ids: list[int]) -> bool:
            if limits is not None and len(ids) >= limits[row]:
                return True
            # only the last few tokens can complete a stop string
            if params.stop and any(
                s in tok.decode(ids[-(longest + 8) :], skip_special_tokens=True) for s in params.stop
            ):
                return True
            if until is not None and until[row](tok.decode(ids, skip_special_tokens=True)):
                if ended is not None:
                    ended.add(row)
                return True
            return False

        return stopped

    def _generate_continuous(
        self,
        texts: list[str],
        params: GenerationParams,
        adapter: str | None,
        on_progress: Any,
        until: list[Callable[[str], bool]] | None = None,
        limits: list[int] | None = None,
    ) -> list[Generation]:
        from tunesmith.models.decode import decode_continuous

        torch = require("torch")
        prompts = [self.encode(t) for t in texts]
        started = time.perf_counter()
        ended = [0.0] * len(texts)
        cut: set[int] = set()

        def done(index: int) -> None:
            ended[index] = time.perf_counter() - started
            if on_progress is not None:
                on_progress(1)

        with self._lock, self._decoding(adapter), cpu.computing():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            new_ids = decode_continuous(
                self.model,
                prompts,
                pad_id=self.tokenizer.pad_token_id or 0,
                max_new_tokens=params.max_new_tokens,
                eos_ids=set(self.stop_token_ids()),
                temperature=params.temperature,
                top_p=params.top_p,
                stopped=self._stop_check(params, until, cut, limits),
                max_rows=self.batch_size,
                max_batch_tokens=self.batch_tokens(),
                prefill_tokens=2048,
                on_done=done,
            )
        results = []
        for index, (prompt, ids, latency) in enumerate(zip(prompts, new_ids, ended, strict=True)):
            text, tokens, finish = self._finish(ids, params, index in cut)
            results.append(Generation(text, len(prompt), tokens, finish, latency))
        return results

    def _generate_batch(
        self,
        texts: list[str],
        params: GenerationParams,
        adapter: str | None,
        until: list[Callable[[str], bool]] | None = None,
        limits: list[int] | None = None,
    ) -> list[Generation]:
        from tunesmith.models.batch import left_padded
        from tunesmith.models.decode import decode

        torch = require("torch")
        enc = left_padded([self.encode(t) for t in texts], self.tokenizer.pad_token_id or 0, self.model.device)
        cut: set[int] = set()
        with self._lock, self._decoding(adapter), cpu.computing():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            started = time.perf_counter()
            new_ids = decode(
                self.model,
                enc["input_ids"],
                enc["attention_mask"],
                max_new_tokens=params.max_new_tokens,
                eos_ids=set(self.stop_token_ids()),
                temperature=params.temperature,
                top_p=params.top_p,
                stopped=self._stop_check(params, until, cut, limits),
                plain_cache=True,  # the earlier path as it was, for comparison (bench/generate.py)
            )
            elapsed = time.perf_counter() - started
        results = []
        for row, ids in enumerate(new_ids):
            text, tokens, finish = self._finish(ids, params, row in cut)
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=int(enc["attention_mask"][row].sum()),
                    completion_tokens=tokens,
                    finish_reason=finish,
                    latency_s=elapsed,
                )
            )
        return results

    def stream(self, chat: Chat, params: GenerationParams, *, adapter: str | None = None) -> Iterator[StreamPiece]:
        """Yield text as it is generated; the last piece carries the finish reason and token counts."""
        torch = require("torch")
        transformers = require("transformers")
        tok = self.tokenizer
        ids = torch.tensor([self.encode(self.render(chat))], dtype=torch.long, device=self.model.device)
        enc = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        streamer = transformers.TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._generate_kwargs(params, adapter, 1)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                with self._lock, self._using(adapter), torch.inference_mode():
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    result["out"] = self.model.generate(**enc, **kwargs, streamer=streamer)
            except BaseException as exc:  # surfaced to the caller below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        # hold back enough characters that a stop string split across pieces is never sent
        hold = max((len(s) for s in params.stop), default=1) - 1
        pending, stopped = "", False
        for piece in streamer:
            if stopped:
                continue
            pending += piece
            hit = min((pending.find(s) for s in params.stop if s in pending), default=-1)
            if hit >= 0:
                yield StreamPiece(pending[:hit])
                pending, stopped = "", True
                continue
            if len(pending) > hold:
                cut = len(pending) - hold
                yield StreamPiece(pending[:cut])
                pending = pending[cut:]
        thread.join()
        if "error" in result:
            raise result["error"]
        new = result["out"][0, enc["input_ids"].shape[1] :].tolist()
        _, tokens, finish = self._finish(new, params)
        yield StreamPiece(
            pending.rstrip() if not stopped else "",
            finish_reason=finish,
            prompt_tokens=int(enc["input_ids"].shape[1]),
            completion_tokens=tokens,
        )

    def stop_token_ids(self) -> list[int]:
        if self._end_of_turn is None:
            self._end_of_turn = end_of_turn_ids(self.tokenizer)
        return stop_ids(self.model.generation_config, self.tokenizer, self._end_of_turn)
