"""The judge protocol with a scripted judge behind the generation interface."""

from __future__ import annotations

import math
import re

from tunesmith.eval.judge import judge_groundedness, judge_pairwise, judge_scores
from tunesmith.models.generation import Generation


class ScriptedJudge:
    """Answers by rule, like a judge model would: longer replies win, 'refund' statements are supported."""

    name = "scripted"

    def __init__(self, position_bias: bool = False) -> None:
        self.position_bias = position_bias
        self.prompts: list[str] = []

    def generate(self, chats, params, *, on_progress=None):  # type: ignore[no-untyped-def]
        out = []
        for chat in chats:
            prompt = chat[-1]["content"]
            self.prompts.append(prompt)
            if "Reply A:" in prompt:
                a = re.search(r"Reply A:\n(.*?)\n\nReply B:", prompt, re.S).group(1)  # type: ignore[union-attr]
                b = re.search(r"Reply B:\n(.*?)\n\nWhich", prompt, re.S).group(1)  # type: ignore[union-attr]
                text = "A" if self.position_bias else ("A" if len(a) > len(b) else "B" if len(b) > len(a) else "tie")
            elif "Statement:" in prompt:
                text = "yes" if "refund" in prompt.split("Statement:")[1] else "no"
            else:
                reply = prompt.split("Reply to grade:\n")[1].split("\n\nGive a score")[0]
                text = f"Score: {min(10, 1 + len(reply) // 10)}" if "?" not in reply else "I cannot say"
            out.append(Generation(text, 1, 1, "stop", 0.0))
        return out


def test_single_answer_scores_parse_and_normalize() -> None:
    scores = judge_scores(ScriptedJudge(), ["q", "q", "q"], ["short", "x" * 200, "what?"], ["ref"] * 3, "rubric")
    assert scores[0] == 0.0 and scores[1] == 1.0 and math.isnan(scores[2])


def test_pairwise_swaps_positions_and_cancels_bias() -> None:
    fair = judge_pairwise(ScriptedJudge(), ["q", "q"], ["a much longer reply", "s"], ["short", "a longer one"], "r")
    assert fair == [1.0, 0.0]
    biased = ScriptedJudge(position_bias=True)
    assert judge_pairwise(biased, ["q"], ["one"], ["two"], "r") == [0.5]
    assert len(biased.prompts) == 2 and "Reply A:\none" in biased.prompts[0] and "Reply A:\ntwo" in biased.prompts[1]


def test_groundedness_by_judge() -> None:
    outputs = ["You will get a full refund within seven days. We also sell pizza on every single Tuesday.", "Hi."]
    values = judge_groundedness(ScriptedJudge(), outputs, [["refunds take 7 days"], ["x"]])
    assert values[0] == 0.5 and math.isnan(values[1])
