"""The small YAML subset Backlog.md writes in a task's front matter, without a YAML library.

Backlog.md (through js-yaml) writes `key: value` lines: plain or quoted scalars ('it''s',
"say \"hi\""), flow lists (`[a, 'b c']`, `[]`), block lists (`key:` then `  - item` lines), and
now and then a folded or literal block (`key: >-` then indented lines). Anything else is refused
with the line it is on, never guessed at.
"""

from __future__ import annotations

import json
import re

from control_room.domain import InvalidInput

Value = str | list[str]
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\s*:(?:\s+(.*))?$")


def split(
    content: str, name: str, wanted: frozenset[str] | None = None
) -> tuple[dict[str, Value], str]:
    """The front matter's fields (only those `wanted`, when given: the others are not read,
    so a field this reader does not need can never refuse the file) and the body after it."""
    lines = content.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise InvalidInput(name, "has no front matter (a first line of ---)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise InvalidInput(name, "its front matter never ends (no closing ---)") from None
    return parse(lines[1:end], name, wanted), "\n".join(lines[end + 1 :])


def parse(lines: list[str], name: str, wanted: frozenset[str] | None = None) -> dict[str, Value]:
    fields: dict[str, Value] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY.match(line) if not line[0].isspace() else None
        if match is None:
            raise InvalidInput(f"{name}: front matter line {index}", f"cannot read {line!r}")
        key, rest = match.group(1), (match.group(2) or "").strip()
        nested = []
        while index < len(lines) and (not lines[index].strip() or lines[index][0].isspace()
                                      or lines[index].startswith("- ")):  # fmt: skip
            nested.append(lines[index])
            index += 1
        where = f"{name}: front matter field {key}"
        if wanted is not None and key not in wanted:
            continue
        if rest in ("|", "|-", "|+", ">", ">-", ">+"):
            fields[key] = _block(nested, folded=rest.startswith(">"))
        elif rest and not rest.startswith("#"):
            if any(n.strip() for n in nested):
                raise InvalidInput(where, "a value and indented lines after it")
            fields[key] = _flow(rest, where)
        else:
            fields[key] = _block_list(nested, where)
    return fields


def _block(lines: list[str], *, folded: bool) -> str:
    body = [line.strip() for line in lines]
    return (" " if folded else "\n").join(body).strip()


def _block_list(lines: list[str], where: str) -> Value:
    items = []
    for line in lines:
        if not line.strip():
            continue
        item = line.strip()
        if not item.startswith("- ") and item != "-":
            raise InvalidInput(where, f"expected `- item` lines, found {item!r}")
        items.append(_scalar(item[1:].strip(), where))
    return items if items else ""


def _flow(text: str, where: str) -> Value:
    if text.startswith("["):
        if not text.endswith("]"):
            raise InvalidInput(where, f"a list that does not end: {text!r}")
        inner = text[1:-1].strip()
        return [_scalar(part, where) for part in _parts(inner, where)] if inner else []
    return _scalar(text, where)


def _parts(inner: str, where: str) -> list[str]:
    """Split a flow list at the commas outside quotes."""
    parts, current, quote = [], "", ""
    for char in inner:
        if quote:
            current += char
            if char == quote:
                quote = ""  # '' inside single quotes reopens at once: same text
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            parts.append(current.strip())
            current = ""
        elif char in "[]{}":
            raise InvalidInput(where, "nested lists or maps are not task fields")
        else:
            current += char
    if quote:
        raise InvalidInput(where, "a quote that does not end")
    parts.append(current.strip())
    return [p for p in parts if p]


def _scalar(text: str, where: str) -> str:
    text = text.strip()
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise InvalidInput(where, f"a quote that does not end: {text!r}")
        return text[1:-1].replace("''", "'")
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInput(where, f"cannot read the quoted text {text!r}") from None
        if not isinstance(value, str):
            raise InvalidInput(where, f"cannot read the quoted text {text!r}")
        return value
    if text.startswith(("{", "[", "&", "*", "!", "|", ">")):
        raise InvalidInput(where, f"{text!r} is more YAML than a task field needs")
    comment = text.find(" #")
    text = text[:comment] if comment >= 0 else text
    return "" if text in ("~", "null") else text.strip()
