"""A Dockerfile parser for tests that check the Dockerfile's rules: there is no Docker engine to build it here."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Instruction:
    line: int  # where it starts, 1-based
    keyword: str  # upper case
    args: str  # continuations joined, flags included

    def flags(self) -> dict[str, str]:
        """Leading `--name=value` flags (`FROM --platform=…`, `COPY --from=…`, `RUN --mount=…`)."""
        out: dict[str, str] = {}
        for word in self.args.split():
            if not word.startswith("--"):
                break
            name, _, value = word[2:].partition("=")
            out[name] = value
        return out

    def body(self) -> str:
        """The arguments after the leading flags."""
        words = self.args.split()
        while words and words[0].startswith("--"):
            words.pop(0)
        return " ".join(words)


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Instruction]:
    """Dockerfile lines to instructions: comments dropped (also inside continuations), `\\` lines joined."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # a blank or comment line never ends a continuation
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            out.append(Instruction(start, keyword.upper(), args.strip()))
            pending = []
    if pending:
        raise ValueError(f"line {start}: the last instruction ends with a continuation")
    return out


def stages(instructions: list[Instruction]) -> list[Stage]:
    """The stages, each FROM's image with the defaults of the ARGs declared before the first FROM
    substituted (what `docker build` uses when no --build-arg overrides them)."""
    out: list[Stage] = []
    defaults: dict[str, str] = {}

    def expand(image: str) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), m.group(0)), image)

    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.body().split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            out.append(Stage(expand(words[0]), name))
        elif out:
            out[-1].instructions.append(ins)
        elif ins.keyword != "ARG":
            raise ValueError(f"line {ins.line}: {ins.keyword} before the first FROM")
        else:
            arg, has_default, default = ins.body().partition("=")
            if has_default:
                defaults[arg] = default.strip('"')
    return out


def commands(run: Instruction) -> list[list[str]]:
    """A RUN's shell command split at `&&`, `||`, `;` and `|` into word lists."""
    lexer = shlex.shlex(run.body(), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    out: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";&|"):
            out.append([])
        else:
            out[-1].append(token)
    return [c for c in out if c]


def key_values(ins: Instruction) -> dict[str, str]:
    """`ENV A=1 B=2` / `LABEL "a.b"="c d"` to a dict."""
    return dict(word.partition("=")[::2] for word in shlex.split(ins.body()))
