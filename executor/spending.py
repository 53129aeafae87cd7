"""Paying for model calls: each call's price, and the CallBudget port that
holds a member's money while a call is in flight.

A run's budget gate (``Budget.check``) admits it before its first model call,
but money is spent call by call, and several runs of one member may be
spending at once. So before each call the executor asks the host's
:class:`CallBudget` to hold the call's worst case (every prompt token at the
dearest input price plus ``max_output_tokens`` at the output price; the
provider is sent that maximum, so the answer cannot be longer), and after it
settles the hold to the real cost. A call whose worst case does not fit in
what is left is not made: the port raises :class:`BudgetReached` and the run
ends with it, keeping what the model wrote until then. Holding before the
call is what lets concurrent runs never spend past a limit together.

Every call's cost lands in its ``Usage`` (``cost_micros``, or
``unpriced_calls`` when its model has no known price), so the run's total,
its steps, its audit rows and its ledger entry all carry money without
another path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from executor.errors import ExecutorError
from executor.llm.errors import ModelError
from executor.llm.model import ForwardingModel, Model, ModelResponse, OnDelta, ToolChoice
from executor.llm.types import AssistantMessage, Message, ToolResultMessage, ToolSpec, Usage, UserMessage
from executor.tools.invocation import Invocation

log = logging.getLogger(__name__)

#: Tokens counted for each message besides its text (role, separators): above
#: what OpenAI and Anthropic add per message.
MESSAGE_OVERHEAD_TOKENS = 8
#: Tokens counted for each image: Anthropic's documented most (about 1,600 for
#: the largest image it takes) and above gpt-4o's high-detail most (1,445).
#: Models that bill images at many more tokens (gpt-4o-mini) can settle an
#: image-heavy call above its hold; see the README's budget section.
IMAGE_TOKENS_BOUND = 1_600


class BudgetReached(ExecutorError):
    """A model call was not made: its worst case does not fit in what is left
    of the member's money (or its price is unknown and the member has a limit
    in USD). The run ends with this error and keeps the answer written so far.

    ``message`` is written for the member.
    """


class Tariff(Protocol):
    """What one model's calls cost (``executor.llm.pricing.Tariff`` is the
    host's; a Protocol here so the runtime does not load the price data)."""

    def worst_case(self, prompt_tokens: int) -> int:
        """The most a call with this many prompt tokens can cost, in micro-dollars."""

    def cost(self, usage: Usage) -> int:
        """One call's cost in micro-dollars."""


#: A tier (or ``provider/model`` spec) to its Tariff; None when its price is unknown.
Tariffs = Callable[[str], Tariff | None]


class CallBudget(Protocol):
    """Holds a member's money for one model call at a time.

    ``reserve_call`` holds ``worst_case`` micro-dollars (None: the price is
    unknown) for the invocation's member, or raises BudgetReached; it must be
    atomic per member, across processes, so concurrent calls cannot all fit
    in the same money. It returns the hold's id. ``settle_call`` replaces the
    hold by the call's real cost (None: unknown); the executor calls it exactly
    once per hold, failed calls included.
    """

    async def reserve_call(self, invocation: Invocation, model: str, worst_case: int | None) -> str: ...

    async def settle_call(self, hold: str, cost: int | None) -> None: ...


class PricedModel(ForwardingModel):
    """A Model whose every call is held, made, priced and settled.

    With no CallBudget it only prices (a run without budgets still reports
    its cost); with no price every call is unpriced. It overrides
    ``complete`` itself: the hold needs the prompt, which ``_forward`` is not given.
    """

    def __init__(self, model: Model, tariff: Tariff | None, budget: CallBudget | None, invocation: Invocation) -> None:
        super().__init__(model)
        self._tariff = tariff
        self._budget = budget
        self._invocation = invocation
        #: tools_tokens_bound by the tools' names: a run offers the same
        #: tools call after call, and their schemas need not be encoded each time.
        self._tools_bounds: dict[tuple[str, ...], int] = {}

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        tool_choice: ToolChoice = "auto",
        on_delta: OnDelta | None = None,
    ) -> ModelResponse:
        tariff = self._tariff
        worst = None
        if tariff is not None:
            worst = tariff.worst_case(messages_tokens_bound(messages) + self._tools_bound(tools))
        hold = await self._budget.reserve_call(self._invocation, self.name, worst) if self._budget else None
        try:
            response = await self._model.complete(messages, tools, tool_choice=tool_choice, on_delta=on_delta)
        except BaseException as exc:
            if hold is not None:
                # Shielded: a cancelled run still settles its hold.
                await asyncio.shield(self._settle(hold, _failed_cost(exc, worst)))
            raise
        spent = tariff.cost(response.usage) if tariff is not None else None
        if hold is not None:
            await self._settle(hold, spent)
        usage = replace(response.usage, cost_micros=spent or 0, unpriced_calls=int(spent is None))
        return replace(response, usage=usage)

    def _tools_bound(self, tools: Sequence[ToolSpec]) -> int:
        key = tuple(t.name for t in tools)
        bound = self._tools_bounds.get(key)
        if bound is None:
            bound = self._tools_bounds[key] = tools_tokens_bound(tools)
        return bound

    async def _settle(self, hold: str, spent: int | None) -> None:
        """Best-effort: a hold that cannot be settled keeps counting at its
        worst case, which only overstates the member's spend, and the call's
        answer is not lost over it."""
        assert self._budget is not None
        try:
            await self._budget.settle_call(hold, spent)
        except Exception:
            log.warning("model call hold %s was not settled; it counts at its worst case", hold, exc_info=True)


def _failed_cost(exc: BaseException, worst: int | None) -> int | None:
    """What a failed call is charged. A provider's error response bills
    nothing; a call that broke off (timeout, dropped stream, cancellation)
    may have been billed for tokens never seen, so it keeps its hold."""
    if isinstance(exc, ModelError) and exc.status is not None:
        return 0
    return worst


def messages_tokens_bound(messages: Sequence[Message]) -> int:
    """A size the messages of a prompt do not exceed: one token per UTF-8
    byte of text (the providers' tokenizers never make a token of less than
    a byte), plus MESSAGE_OVERHEAD_TOKENS a message and IMAGE_TOKENS_BOUND an
    image. Several times the usual count for English, which only makes the
    hold larger than the cost, never smaller."""
    size = 0
    for m in messages:
        size += _bytes(m.content) + MESSAGE_OVERHEAD_TOKENS
        if isinstance(m, AssistantMessage):
            size += _bytes(m.reasoning) + sum(_bytes(c.name) + _bytes(c.arguments) for c in m.tool_calls)
        if isinstance(m, UserMessage | ToolResultMessage):
            size += IMAGE_TOKENS_BOUND * len(m.images)
    return size


def tools_tokens_bound(tools: Sequence[ToolSpec]) -> int:
    """The same bound for the tool definitions sent with a prompt."""
    return sum(
        _bytes(t.name) + _bytes(t.description) + _bytes(json.dumps(t.parameters)) + MESSAGE_OVERHEAD_TOKENS
        for t in tools
    )


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))
