"""YAML syntax errors in words an operator can act on, next to the parser's own words.

The parser reports where it gave up, which is often not where the mistake is: a missing
space in `server_port:8000` is reported on the *next* line ("mapping values are not allowed
here"). `explain(err, text)` reads the lines around the parser's mark and returns the line to
edit and a message such as "this line is indented more than the lines above it (the parser
says: mapping values are not allowed here)".

The fast C parser gives terser words ("found character that cannot start any token", with
no character); a syntax error is re-read with the pure-Python parser, as Home Assistant's
loader does, which names the character. That only composes nodes, so no tag (`!include`,
`!secret`) runs twice.
"""

from __future__ import annotations

import re

import yaml

KNOWN_TAGS = (
    "!include",
    "!include_dir_list",
    "!include_dir_merge_list",
    "!include_dir_named",
    "!include_dir_merge_named",
    "!secret",
    "!env_var",
    "!input",
)

# `key:value` with no space after the colon (not a URL's `://`, not a time `12:30`)
_NO_SPACE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w\-]*):(?!//)\S")
_FOUND_CHAR = re.compile(r"found character '(.+)' that cannot start any token")
_ALIAS = re.compile(r"found undefined alias '(.+)'")
_TAG = re.compile(r"could not determine a constructor for the tag '(.+)'")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> str:
    """The line without a trailing comment (a rough cut: '#' after a space)."""
    return re.split(r"\s#", line, maxsplit=1)[0].rstrip()


def _previous(lines: list[str], index: int) -> int | None:
    """Index of the nearest line above `index` that holds something."""
    for i in range(min(index, len(lines)) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
    return None


def _python_error(text: str, err: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """The pure-Python parser's account of a syntax error (it names the character)."""
    if isinstance(err, yaml.constructor.ConstructorError):
        return err
    try:
        for _ in yaml.compose_all(text, Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as python_err:
        return python_err
    return err


def _unclosed_bracket(lines: list[str]) -> tuple[int, str] | None:
    """(1-based line, bracket) of the last '[' or '{' never closed, outside quotes and
    comments; None when every bracket closes."""
    stack: list[tuple[int, str]] = []
    pairs = {"]": "[", "}": "{"}
    for number, line in enumerate(lines, start=1):
        quote = ""
        for index, char in enumerate(line):
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "#" and (index == 0 or line[index - 1] in " \t"):
                break
            elif char in "[{":
                stack.append((number, char))
            elif char in pairs and stack and stack[-1][1] == pairs[char]:
                stack.pop()
    return stack[-1] if stack else None


def _over_indented_first_line(lines: list[str], at: int) -> int | None:
    """Index of the line to blame when the parser stops at `lines[at]` because the first
    line of a block was indented further than the rest of it:

        http:
           server_port: 8000     <- the mistake
          use_x_forwarded_for: true   <- where the parser stops

    The parser cannot tell this from `lines[at]` being indented too little; the lines
    around it can: the indentation the most lines of the block share is the intended
    one. None when `lines[at]` is the odd one (or it is a tie: the parser's line)."""
    if at >= len(lines):
        return None
    here = _indent(lines[at])
    start: int | None = None
    index = at
    while (above := _previous(lines, index)) is not None and _indent(lines[above]) > here:
        start, index = above, above
    if start is None or above is None or _indent(lines[above]) >= here:
        return None  # no parent key less indented than this line: not this mistake
    parent = _indent(lines[above])
    block = _indent(lines[start])
    votes = {block: 0, here: 0}
    for line in lines[start:at]:
        if line.strip() and not line.lstrip().startswith("#") and _indent(line) == block:
            votes[block] += 1
    for line in lines[at:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if _indent(line) <= parent:
            break
        if _indent(line) in votes:
            votes[_indent(line)] += 1
    return start if votes[here] > votes[block] else None


def explain(err: yaml.MarkedYAMLError, text: str | None) -> tuple[int | None, str]:
    """(1-based line to edit or None, message) for a YAML error in `text`."""
    if text is not None:
        err = _python_error(text, err)
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark else None
    problem = err.problem or err.context or "invalid YAML"
    words = f"{err.context}: {problem}" if err.context and err.problem else problem
    lines = text.splitlines() if text is not None else []
    hint: str | None = None
    at = mark.line if mark else 0
    here = lines[at] if at < len(lines) else ""
    context_line = err.context_mark.line + 1 if err.context_mark else line

    if "'\\t'" in problem or "tab character" in problem:
        hint = "a tab character: indent with spaces only"
    elif "mapping values are not allowed" in problem:
        above = _previous(lines, at)
        above_text = _content(lines[above]) if above is not None else ""
        missing = _NO_SPACE.match(above_text) if above is not None else None
        if missing and ": " not in above_text:
            # the value is not quoted back: it may be a password
            hint = f"a missing space after the colon of '{missing.group(1)}:'"
            line = above + 1  # type: ignore[operator]
        elif above is not None and _indent(here) > _indent(lines[above]):
            hint = "this line is indented more than the lines above it"
        elif _content(here).count(": ") > 1 or (mark and ": " in here[: mark.column]):
            hint = "a value with ': ' in it must be quoted (key: \"a: b\")"
        else:
            hint = "a colon where no 'key: value' can start: check this line's indentation"
    elif "could not find expected ':'" in problem:
        hint = "a line inside a mapping that is not 'key: value' (a missing colon?)"
    elif (found := _FOUND_CHAR.search(problem)) is not None:
        hint = f"'{found.group(1)}' cannot start a value: put the value in quotes"
    elif "quoted scalar" in (err.context or "") and "end of stream" in problem:
        hint = f"a quote opened on line {context_line} is never closed"
        line = context_line
    elif "unknown escape character" in problem:
        hint = (
            "a backslash in a double-quoted string: use single quotes, or write '\\\\' "
            "for one backslash"
        )
    elif "flow sequence" in (err.context or "") or "flow mapping" in (err.context or ""):
        bracket = "[" if "sequence" in (err.context or "") else "{"
        hint = f"a '{bracket}' opened on line {context_line} is never closed (or a ',' is missing)"
        if "<stream end>" in problem:
            line = context_line  # nothing after it to blame: the fix is where it opened
    elif "<stream end>" in problem and (opener := _unclosed_bracket(lines)) is not None:
        # the parser points at the end of the file; the fix is where the bracket opened
        hint = f"a '{opener[1]}' opened on line {opener[0]} is never closed"
        line = opener[0]
    elif "expected <block end>" in problem or "did not find expected key" in problem:
        above = _previous(lines, at)
        over = _over_indented_first_line(lines, at)
        if over is not None:
            hint = (
                "this line is indented more than the lines after it that belong with it "
                f"(line {at + 1} on): indent it as far as they are"
            )
            line = over + 1
        elif above is not None and _indent(here) < _indent(lines[above]):
            hint = (
                "this line is indented less than the line above it, but not as far as "
                "the key it belongs to"
            )
        elif here.lstrip().startswith("- ") or here.strip() == "-":
            hint = "a list item '-' where a 'key: value' is expected: check its indentation"
        else:
            hint = "this line's indentation does not match the lines above it"
    elif (alias := _ALIAS.search(problem)) is not None:
        name = alias.group(1)
        hint = f"the alias *{name} has no anchor &{name} above it"
    elif (tag := _TAG.search(problem)) is not None:
        hint = f"unknown tag {tag.group(1)} (known: {', '.join(KNOWN_TAGS)})"
    if hint is None:
        return line, words
    return line, f"{hint} (the parser says: {words})"
