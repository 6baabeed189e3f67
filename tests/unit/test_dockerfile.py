"""The Dockerfile's rules, checked by parsing it: there is no Docker engine to build it here.

Each rule is a function returning the problems it finds, so the tests check both that the real
Dockerfile has none and that each rule does catch a Dockerfile that breaks it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

BUILD_TOOLS = {"gcc", "g++", "cc", "clang", "make", "build-essential", "python3-dev", "libc6-dev", "cmake"}
FULL_VERSION = re.compile(r"(^|[^0-9.])\d+\.\d+\.\d+($|[^0-9.])")


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


# --- the rules -----------------------------------------------------------------------------


def pin_problems(all_stages: list[Stage]) -> list[str]:
    problems = []
    if len(all_stages) < 2:
        problems.append(f"not multi-stage: {len(all_stages)} FROM")
    names: set[str] = set()
    for stage in all_stages:
        if stage.image in names:
            pass  # an earlier stage: as pinned as that stage's own FROM
        elif "$" in stage.image:
            problems.append(f"FROM {stage.image}: a variable, not a pinned image")
        else:
            repo, _, digest = stage.image.partition("@")
            tag = repo.rpartition(":")[2] if ":" in repo.rpartition("/")[2] else ""
            if not tag:
                problems.append(f"FROM {stage.image}: no tag")
            elif tag == "latest" or not FULL_VERSION.search(tag):
                problems.append(f"FROM {stage.image}: the tag is not a full major.minor.patch version")
            if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                problems.append(f"FROM {stage.image}: malformed digest")
        if stage.name:
            names.add(stage.name)
    bases = {s.image for s in all_stages if s.image not in names}
    if len(bases) > 1:
        problems.append(f"the stages use different base images: {sorted(bases)}")
    return problems


def user_problems(final: Stage) -> list[str]:
    users = final.all("USER")
    if not users:
        return ["the final stage has no USER: it would run as root"]
    uid, _, gid = users[-1].body().partition(":")
    problems = []
    for what, value in (("uid", uid), ("gid", gid or uid)):
        if not value.isdigit():
            problems.append(f"USER {users[-1].body()}: the {what} is not numeric (runAsNonRoot cannot verify it)")
        elif int(value) == 0:
            problems.append(f"USER {users[-1].body()}: the {what} is root")
    return problems


def entrypoint_problems(final: Stage) -> list[str]:
    problems = []
    for keyword, expected in (("ENTRYPOINT", ["taskops"]), ("CMD", ["operator"])):
        found = final.all(keyword)
        if not found:
            problems.append(f"no {keyword}")
            continue
        try:
            value = json.loads(found[-1].body())
        except json.JSONDecodeError:
            value = found[-1].body()  # shell form: signals would go to /bin/sh, not taskops
        if value != expected:
            problems.append(f"{keyword} is {value!r}, not the exec form {expected!r}")
    return problems


def build_tool_problems(final: Stage) -> list[str]:
    problems = []
    for run in final.all("RUN"):
        for words in commands(run):
            text = " ".join(words)
            if "apt-get" in words and "install" in words:
                tools = BUILD_TOOLS & set(words)
                if tools:
                    problems.append(f"line {run.line}: the final stage installs build tools {sorted(tools)}")
            pip = any(re.fullmatch(r"pip(3(\.\d+)?)?", w.rpartition("/")[2]) for w in words)
            if pip and "install" in words and "--no-index" not in words:
                problems.append(f"line {run.line}: `{text}` may fetch and build from an index; use --no-index")
            if pip and "wheel" in words:
                problems.append(f"line {run.line}: the final stage builds wheels")
    for copy in final.all("COPY") + final.all("ADD"):
        if "from" not in copy.flags():
            problems.append(f"line {copy.line}: the final stage copies from the build context: {copy.args}")
    return problems


def runtime_problems(final: Stage) -> list[str]:
    problems = []
    env: dict[str, str] = {}
    for ins in final.all("ENV"):
        env.update(key_values(ins))
    for name in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"):
        if env.get(name) != "1":
            problems.append(f"ENV {name} is {env.get(name)!r}, not '1'")
    ports = {p for ins in final.all("EXPOSE") for p in ins.body().split()}
    if not {"8080", "8081"} <= ports:
        problems.append(f"EXPOSE {sorted(ports)} lacks 8080 and 8081")
    labels: dict[str, str] = {}
    for ins in final.all("LABEL"):
        labels.update(key_values(ins))
    for name in ("title", "licenses"):
        if not labels.get(f"org.opencontainers.image.{name}"):
            problems.append(f"no label org.opencontainers.image.{name}")
    if labels.get("org.opencontainers.image.licenses") != "Apache-2.0":
        problems.append("the licenses label is not Apache-2.0")
    return problems


def check(text: str) -> list[str]:
    all_stages = stages(parse(text))
    if not all_stages:
        return ["no FROM"]
    final = all_stages[-1]
    return (
        pin_problems(all_stages)
        + user_problems(final)
        + entrypoint_problems(final)
        + build_tool_problems(final)
        + runtime_problems(final)
    )


# --- the real files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text() -> str:
    return DOCKERFILE.read_text()


def test_the_dockerfile_keeps_every_rule(text: str) -> None:
    assert check(text) == []


def test_two_stages_the_builder_makes_wheels_the_final_installs_them(text: str) -> None:
    builder, final = stages(parse(text))
    assert builder.name == "builder"
    assert any("pip wheel --wheel-dir /wheels ." in i.body() for i in builder.all("RUN"))
    installs = [i for i in final.all("RUN") if "--find-links /wheels taskops" in i.body()]
    assert installs, "the final stage does not install taskops from the wheels"
    # the wheels reach the final stage from the builder (a bind mount or a COPY --from), nothing else
    assert any(i.flags().get("mount", "").find("from=builder") >= 0 for i in installs) or any(
        c.flags().get("from") == "builder" for c in final.all("COPY")
    )
    assert any("rm -rf /root/.cache/pip" in i.body() or "--no-cache-dir" in i.body() for i in installs)


def test_both_stages_use_the_base_argument_whose_default_is_the_pinned_base(text: str) -> None:
    froms = [i.body().split()[0] for i in parse(text) if i.keyword == "FROM"]
    assert froms == ["${BASE}", "${BASE}"]
    assert {s.image for s in stages(parse(text))} == {"python:3.11.14-slim-bookworm"}


def test_the_user_is_10001_with_no_login_shell_and_no_home(text: str) -> None:
    final = stages(parse(text))[-1]
    assert final.all("USER")[-1].body() == "10001:10001"
    creates = " ".join(i.body() for i in final.all("RUN"))
    assert "groupadd --system --gid 10001" in creates
    useradd = next(c for r in final.all("RUN") for c in commands(r) if c[0] == "useradd")
    assert {"--uid", "10001", "--gid", "--no-create-home", "/usr/sbin/nologin"} <= set(useradd)


def test_the_dockerignore_keeps_local_state_out_and_what_the_build_copies_in(text: str) -> None:
    patterns = {p.strip().rstrip("/") for p in DOCKERIGNORE.read_text().splitlines()}
    patterns.discard("")
    for needed in (".venv", ".git", "test-output", ".devcluster", "bench/results", ".pytest_cache"):
        assert needed in patterns, f".dockerignore does not exclude {needed}"
    copied = [
        word.rstrip("/")
        for stage in stages(parse(text))
        for copy in stage.all("COPY")
        if "from" not in copy.flags()
        for word in copy.body().split()[:-1]
    ]
    assert copied, "the builder copies nothing from the context"
    for path in copied:
        assert (REPO / path).exists(), f"COPY {path}: no such file in the repository"
        assert path not in patterns, f"COPY {path}, but .dockerignore excludes it"


# --- the parser and the rules on Dockerfiles that break them ----------------------------------

GOOD = """\
FROM python:3.11.14-slim-bookworm AS builder
RUN pip wheel --wheel-dir /wheels .
FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.source="https://example.invalid/taskops" \\
      org.opencontainers.image.title=taskops org.opencontainers.image.licenses=Apache-2.0
ENV PYTHONUNBUFFERED=1 \\
    # a comment inside a continuation is dropped
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /wheels /wheels
RUN pip install --no-index --find-links /wheels taskops && rm -rf /wheels
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["taskops"]
CMD ["operator"]
"""


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    parsed = parse(GOOD)
    env = next(i for i in parsed if i.keyword == "ENV")
    assert env.line == 6
    assert key_values(env) == {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    label = next(i for i in parsed if i.keyword == "LABEL")
    assert key_values(label)["org.opencontainers.image.source"] == "https://example.invalid/taskops"
    assert [s.name for s in stages(parsed)] == ["builder", None]
    assert check(GOOD) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("FROM python:3.11.14-slim-bookworm\n", "FROM python:3.11-slim\n", "full major.minor.patch"),
        ("FROM python:3.11.14-slim-bookworm\n", "FROM python:latest\n", "full major.minor.patch"),
        ("FROM python:3.11.14-slim-bookworm\n", "FROM python\n", "no tag"),
        ("FROM python:3.11.14-slim-bookworm\n", "FROM python:3.11.13-slim-bookworm\n", "different base images"),
        ("FROM python:3.11.14-slim-bookworm\n", "FROM ${BASE}\n", "a variable, not a pinned image"),
        (
            "FROM python:3.11.14-slim-bookworm AS builder\n",
            "ARG B2=python:3.11-slim\nFROM ${B2} AS builder\n",
            "full major.minor.patch",
        ),
        ("FROM python:3.11.14-slim-bookworm AS builder\nRUN pip wheel --wheel-dir /wheels .\n", "", "multi-stage"),
        ("USER 10001:10001", "USER 0:0", "is root"),
        ("USER 10001:10001", "USER taskops", "not numeric"),
        ("USER 10001:10001\n", "", "no USER"),
        ('ENTRYPOINT ["taskops"]', "ENTRYPOINT taskops", "exec form"),
        ('ENTRYPOINT ["taskops"]', 'ENTRYPOINT ["python", "-m", "taskops.cli"]', "exec form"),
        ("--no-index --find-links", "--find-links", "--no-index"),
        ("RUN pip install", "RUN python -m pip wheel --wheel-dir /wheels . && pip install", "builds wheels"),
        ("RUN pip install", "RUN apt-get update && apt-get install -y gcc && pip install", "build tools"),
        ("RUN pip install", "RUN apt-get install -y --no-install-recommends build-essential; pip install", "build"),
        ("COPY --from=builder /wheels /wheels", "COPY . /src", "copies from the build context"),
        ("ENV PYTHONUNBUFFERED=1", "ENV PYTHONUNBUFFERED=0", "PYTHONUNBUFFERED"),
        ("EXPOSE 8080 8081", "EXPOSE 8080", "EXPOSE"),
        ("licenses=Apache-2.0", "licenses=MIT", "Apache-2.0"),
    ],
)
def test_each_rule_catches_a_dockerfile_that_breaks_it(old: str, new: str, problem: str) -> None:
    assert old in GOOD
    # for a FROM, break only the final stage's (the last occurrence)
    index = GOOD.rindex(old)
    broken = GOOD[:index] + new + GOOD[index + len(old) :]
    problems = check(broken)
    assert any(problem in p for p in problems), problems


def test_a_trailing_continuation_is_an_error() -> None:
    with pytest.raises(ValueError, match="continuation"):
        parse("FROM python:3.11.14-slim-bookworm\nRUN true \\\n")
