"""Split a template's variables into groups whose answer schema and answer fit what a provider takes.

Why: providers cap strict structured-output schemas — Azure OpenAI refuses more than 100 object
properties in total (our schema spends 5 per variable + 1), more than 500 enum values and more than
15,000 characters of property names and enum values — and one reply can only be so long. A 60-variable
template in one call is refused outright. So each chunk of a document is asked in several calls, one
per group, in parallel; the answers are merged by variable name (llm_extractor.py).

Groups keep the template's order (related questions stay together) and are balanced (60 variables
under a 19-variable cap become 4 groups of 15, not 19+19+19+3: the slowest call sets the pace).
A variable whose options alone break the enum caps is asked with an open string value instead of an
enum; its answer is still checked against the options when it is read (variables.coerce_value).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from policy_reader.config import Settings
from policy_reader.models import Variable, VariableType
from policy_reader.llm.prompts import build_schema

#: Expected reply tokens per variable: the value, a quote of up to ~300 characters, page, confidence, keys.
ANSWER_TOKENS_PER_VARIABLE = 150
#: List values can hold many items.
ANSWER_TOKENS_PER_LIST = 220
#: The reply's wrapper and slack.
ANSWER_BASE_TOKENS = 200


@dataclass(frozen=True)
class SchemaLimits:
    """Caps of one call's schema and reply (defaults: what Azure OpenAI allows)."""

    max_properties: int = 100
    max_enum_values: int = 500
    max_chars: int = 15_000
    max_output_tokens: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings) -> "SchemaLimits":
        return cls(max_properties=settings.llm_schema_max_properties,
                   max_enum_values=settings.llm_schema_max_enum_values,
                   max_chars=settings.llm_schema_max_chars,
                   max_output_tokens=settings.llm_max_output_tokens)

    def below(self, properties: int) -> "SchemaLimits":
        """These limits with the property cap lowered under a size the provider refused."""
        return replace(self, max_properties=max(6, min(self.max_properties, properties - 1)))


@dataclass(frozen=True)
class SchemaSize:
    properties: int
    enum_values: int
    chars: int
    depth: int


def measure(schema: dict[str, Any]) -> SchemaSize:
    """Count a schema the way providers do: every property of every object, every enum value."""
    props = enums = chars = depth = 0

    def walk(node: Any, level: int) -> None:
        nonlocal props, enums, chars, depth
        if not isinstance(node, dict):
            return
        if "properties" in node:
            depth = max(depth, level)
            for name, child in node["properties"].items():
                props += 1
                chars += len(name)
                walk(child, level + 1)
        if isinstance(node.get("enum"), list):
            enums += len(node["enum"])
            chars += sum(len(str(v)) for v in node["enum"] if v is not None)
        if "items" in node:
            walk(node["items"], level)

    walk(schema, 1)
    return SchemaSize(props, enums, chars, depth)


def answer_tokens(variables: list[Variable]) -> int:
    """Tokens a complete reply for these variables needs (an estimate with slack, not a tokenizer)."""
    return ANSWER_BASE_TOKENS + sum(ANSWER_TOKENS_PER_LIST if v.type is VariableType.LIST
                                    else ANSWER_TOKENS_PER_VARIABLE for v in variables)


def needs_open_value(variable: Variable, limits: SchemaLimits) -> bool:
    """True when this variable's options alone break the enum caps: ask it without the enum."""
    if not variable.options or variable.type not in (VariableType.CATEGORY, VariableType.LIST):
        return False
    size = measure(build_schema([variable]))
    return size.enum_values > limits.max_enum_values or size.chars > limits.max_chars


def open_names(variables: list[Variable], limits: SchemaLimits) -> frozenset[str]:
    return frozenset(v.name for v in variables if needs_open_value(v, limits))


def fits(variables: list[Variable], limits: SchemaLimits, open_values: frozenset[str] = frozenset()) -> bool:
    """Does one call for these variables stay within the limits?"""
    size = measure(build_schema(variables, open_values=open_values))
    return (size.properties <= limits.max_properties and size.enum_values <= limits.max_enum_values
            and size.chars <= limits.max_chars and answer_tokens(variables) <= limits.max_output_tokens)


def plan_groups(variables: list[Variable], limits: SchemaLimits) -> list[list[Variable]]:
    """Balanced groups, in template order, each within the limits (a lone variable always gets a group)."""
    opened = open_names(variables, limits)
    greedy: list[list[Variable]] = []
    for var in variables:
        if greedy and fits(greedy[-1] + [var], limits, opened):
            greedy[-1].append(var)
        else:
            greedy.append([var])
    count = len(greedy)
    if count <= 1:
        return greedy
    size = math.ceil(len(variables) / count)
    balanced = [variables[i:i + size] for i in range(0, len(variables), size)]
    if len(balanced) == count and all(fits(g, limits, opened) for g in balanced):
        return balanced
    return greedy


def halves(variables: list[Variable]) -> list[list[Variable]]:
    """Two groups of about half (for a provider that refuses a group the limits allowed)."""
    middle = (len(variables) + 1) // 2
    return [variables[:middle], variables[middle:]]
