"""The README's quick start: a two-agent workflow in a dozen lines."""

from orchestrator import step, workflow
from workflows import specialist


@step
async def sentiment(review: str) -> str:
    return (await specialist("minilm").classify(review, labels=["positive", "negative"])).label


@step
async def reply(review: str, mood: str) -> str:
    answer = await specialist("smollm2").chat(f"Write a one-sentence reply to this {mood} review: {review}")
    return answer.text


@workflow
def review_reply(review: str):
    mood = sentiment(review)
    return {"sentiment": mood, "reply": reply(review, mood)}
