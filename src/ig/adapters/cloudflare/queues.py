"""The ``MessageQueue`` port on a Queues producer binding, and the consumer loop that hands each
message of a batch to ig and acks or retries it explicitly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ig.adapters.cloudflare.convert import to_js_object, to_py
from ig.completion.consumer import Ack, handle_message
from ig.deps import Deps
from ig.ports import MAX_SEND_BATCH


class QueueProducer:
    def __init__(self, binding: Any) -> None:
        self._queue = binding

    async def send(self, body: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        # JSON, not the default v8 serialisation, so a body reads the same in any consumer.
        await self._queue.send(dict(body), contentType="json", delaySeconds=int(delay_seconds))

    async def send_batch(self, bodies: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0) -> None:
        if len(bodies) > MAX_SEND_BATCH:
            raise ValueError(f"at most {MAX_SEND_BATCH} messages per batch")
        if bodies:
            messages = [{"body": dict(body), "contentType": "json"} for body in bodies]
            await self._queue.sendBatch(to_js_object(messages), delaySeconds=int(delay_seconds))


async def consume(deps: Deps, batch: Any) -> None:
    """Settle every message on its own: one failure never redelivers the messages that worked."""
    queue = str(batch.queue)
    for message in batch.messages:
        decision = await handle_message(deps, queue, to_py(message.body), int(message.attempts))
        if isinstance(decision, Ack):
            message.ack()
        else:
            message.retry(delaySeconds=decision.delay_seconds)
