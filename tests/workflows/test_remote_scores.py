"""RemoteAgent.classify's scores: probabilities from the endpoint's log-probabilities, or marked as none.

The token streams are shaped as OpenAI-compatible servers return them for a forced
function call (`choices[0].logprobs.content`), built with the openai package's own types.
"""

from __future__ import annotations

import math

import pytest
from openai.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob, TopLogprob

from agents.remote import label_scores


def _tok(token: str, logprob: float, top: dict[str, float] | None = None) -> ChatCompletionTokenLogprob:
    return ChatCompletionTokenLogprob(token=token, logprob=logprob, bytes=None,
                                      top_logprobs=[TopLogprob(token=t, logprob=lp, bytes=None)
                                                    for t, lp in (top or {}).items()])


def test_scores_are_the_label_token_probabilities_normalised() -> None:
    tokens = [_tok('{"', 0.0), _tok("label", 0.0), _tok('":', 0.0),
              _tok(' "neg', -0.3, {' "neg': -0.3, ' "pos': -1.5, ' "the': -4.0}), _tok("ative", -0.05), _tok('"}', 0.0)]
    scores = label_scores(tokens, ["positive", "negative"], "negative")
    assert scores is not None
    neg, pos = math.exp(-0.35), math.exp(-1.5)
    assert scores["negative"] == pytest.approx(neg / (neg + pos))
    assert scores["positive"] == pytest.approx(pos / (neg + pos))
    assert 0 < scores["positive"] < scores["negative"] < 1


def test_labels_sharing_a_first_token_get_what_the_chosen_one_leaves() -> None:
    labels = ["order_status", "order_cancel", "refund"]
    tokens = [_tok('{"label": "', 0.0), _tok("order", -0.1, {"order": -0.1, "ref": -2.5}), _tok("_status", -0.7),
              _tok('"}', 0.0)]
    scores = label_scores(tokens, labels, "order_status")
    assert scores is not None
    chosen, cancel, refund = math.exp(-0.8), math.exp(-0.1) - math.exp(-0.8), math.exp(-2.5)
    total = chosen + cancel + refund
    assert scores == pytest.approx({"order_status": chosen / total, "order_cancel": cancel / total,
                                    "refund": refund / total})


def test_a_plain_text_answer_is_scored_too() -> None:
    tokens = [_tok("positive", -0.2, {"positive": -0.2, "negative": -1.8})]
    scores = label_scores(tokens, ["positive", "negative"], "positive")
    assert scores is not None and scores["positive"] == pytest.approx(1 / (1 + math.exp(-1.6)))


@pytest.mark.parametrize("tokens", [[], [_tok('{"label": "positive"}', -0.1)]])
def test_without_log_probabilities_there_are_no_scores(tokens: list[ChatCompletionTokenLogprob]) -> None:
    # No tokens, or no alternatives at the label: nothing says how likely the other labels were.
    assert label_scores(tokens, ["positive", "negative"], "positive") is None
