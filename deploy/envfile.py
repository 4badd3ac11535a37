"""Read an env file exactly as systemd's `EnvironmentFile=` does, for provision.sh.

systemd reads the file with `load_env_file()` (src/basic/env-file.c,
`parse_env_file_internal`) and then drops assignments whose name is not a valid variable
name (`strv_env_clean`). The rules that matter for a password:

- `#` or `;` as the first non-blank character of a line starts a comment; elsewhere both
  are ordinary characters (there is no comment at the end of a value);
- blanks around the key and before the value are dropped; an unquoted value loses its
  trailing blanks;
- unquoted, a backslash takes the next character as it is (`a\\b` is `ab`), and a
  backslash before a line break joins the next line;
- '...' keeps everything as written; "..." keeps everything but turns `\\"`, `\\\\`,
  `` \\` `` and `\\$` into the character itself (any other backslash stays);
- quoted and unquoted pieces join: `"ab" 'cd'ef` is `abcdef` (blanks after a closing
  quote are skipped); once an unquoted piece has begun, quotes are plain characters;
- a line with no `=` is dropped; a later assignment of a name replaces the earlier one.

The value is never run as shell and never printed. Usage (provision.sh):

    python3 envfile.py FILE     # NUL-separated NAME, VALUE pairs on stdout; exit 1 and one
                                # line per problem (line numbers, never values) on stderr
"""

from __future__ import annotations

import re
import sys

COMMENTS = "#;"
WHITESPACE = " \t\n\r"
NEWLINE = "\n\r"
SHELL_NEED_ESCAPE = '"\\`$'
# systemd's env_name_is_valid(): what a shell accepts as a variable name
VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse(text: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """([(line, key, value)] in file order, [(line, problem)]) for the file's text.

    `line` is where the assignment starts (1-based). Problems are what systemd would drop
    silently or with a warning: a line without `=`, a name that is not a variable name."""
    assignments: list[tuple[int, str, str]] = []
    problems: list[tuple[int, str]] = []
    state = "PRE_KEY"
    key: list[str] = []
    value: list[str] = []
    line = start = 1
    last_key_ws: int | None = None
    last_value_ws: int | None = None

    def push() -> None:
        name = "".join(key[:last_key_ws] if last_key_ws is not None else key)
        text_value = "".join(value)
        if state == "VALUE" and last_value_ws is not None:
            text_value = "".join(value[:last_value_ws])
        if VALID_NAME.match(name):
            assignments.append((start, name, text_value))
        elif name.startswith("export ") or name.startswith("export\t"):
            problems.append(
                (start, "'export' is shell, not an env file: systemd ignores this line")
            )
        else:
            problems.append(
                (start, "not a NAME=VALUE line with a valid variable name: systemd ignores it")
            )

    for char in text:
        if state == "PRE_KEY":
            if char in COMMENTS:
                state = "COMMENT"
            elif char not in WHITESPACE:
                state, key, last_key_ws, start = "KEY", [char], None, line
        elif state == "KEY":
            if char in NEWLINE:
                problems.append((start, "no '=' on this line: systemd ignores it"))
                state, key = "PRE_KEY", []
            elif char == "=":
                state, value, last_value_ws = "PRE_VALUE", [], None
            else:
                if char not in WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(char)
        elif state == "PRE_VALUE":
            if char in NEWLINE:
                push()
                state, key, value = "PRE_KEY", [], []
            elif char == "'":
                state = "SINGLE"
            elif char == '"':
                state = "DOUBLE"
            elif char == "\\":
                state = "VALUE_ESCAPE"
            elif char not in WHITESPACE:
                state = "VALUE"
                value.append(char)
        elif state == "VALUE":
            if char in NEWLINE:
                push()
                state, key, value = "PRE_KEY", [], []
            elif char == "\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if char not in WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value)
                value.append(char)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if char not in NEWLINE:  # an escaped line break joins the next line
                value.append(char)
        elif state == "SINGLE":
            if char == "'":
                state = "PRE_VALUE"
            else:
                value.append(char)
        elif state == "DOUBLE":
            if char == '"':
                state = "PRE_VALUE"
            elif char == "\\":
                state = "DOUBLE_ESCAPE"
            else:
                value.append(char)
        elif state == "DOUBLE_ESCAPE":
            state = "DOUBLE"
            if char in SHELL_NEED_ESCAPE:
                value.append(char)
            elif char != "\n":
                value.extend(("\\", char))
        elif state == "COMMENT":
            if char == "\\":
                state = "COMMENT_ESCAPE"
            elif char in NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            # since systemd 254 a backslash at the end of a comment no longer continues it
            state = "PRE_KEY" if char in NEWLINE else "COMMENT"
        if char == "\n":
            line += 1
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE", "DOUBLE", "DOUBLE_ESCAPE"):
        if state == "VALUE_ESCAPE":
            state = "VALUE"  # the end of the file after a backslash: nothing to add
        push()
    elif state == "KEY":
        problems.append((start, "no '=' on this line: systemd ignores it"))
    return assignments, problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: envfile.py FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        print(f"{path}: cannot read: {err}", file=sys.stderr)
        return 1
    assignments, problems = parse(text)
    for line, problem in problems:
        print(f"{path} line {line}: {problem}", file=sys.stderr)
    if problems:
        return 1
    out = sys.stdout.buffer
    for _line, name, value in assignments:
        out.write(name.encode() + b"\0" + value.encode() + b"\0")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
