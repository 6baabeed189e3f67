"""The Dockerfile's rules, checked by parsing it: there is no Docker engine to build it here.

Each rule is a function returning the problems it finds, so the tests check both that the real
Dockerfile has none and that each rule does catch a Dockerfile that breaks it.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.dockerfile import Instruction, Stage, commands, key_values, parse, stages

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

BUILD_TOOLS = {"gcc", "g++", "cc", "clang", "make", "build-essential", "python3-dev", "libc6-dev", "cmake"}
FULL_VERSION = re.compile(r"(^|[^0-9.])\d+\.\d+\.\d+($|[^0-9.])")


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


def pip_commands(stage: Stage) -> list[tuple[Instruction, list[str]]]:
    """Every `pip install|wheel|download` of a stage (`pip …`, `pip3 …`, `python -m pip …`)."""
    out = []
    for run in stage.all("RUN"):
        for words in commands(run):
            pip = [i for i, w in enumerate(words) if re.fullmatch(r"pip(3(\.\d+)?)?", w.rpartition("/")[2])]
            if pip and len(words) > pip[0] + 1 and words[pip[0] + 1] in {"install", "wheel", "download"}:
                out.append((run, words))
    return out


def hash_problems(all_stages: list[Stage]) -> list[str]:
    """Nothing reaches the image that is not pinned by hash: each pip step installs a hashed lock file, or
    builds the project itself without fetching (no build isolation, no dependencies), or installs a built
    wheel without dependencies and without an index."""
    problems = []
    for stage in all_stages:
        for run, words in pip_commands(stage):
            text = " ".join(words)
            if "-r" in words or "--requirement" in words:
                if "--require-hashes" not in words:
                    problems.append(f"line {run.line}: `{text}` installs a requirements file without --require-hashes")
            elif "." in words:
                for flag in ("--no-deps", "--no-build-isolation"):
                    if flag not in words:
                        problems.append(f"line {run.line}: `{text}` builds the project without {flag}: unpinned")
            elif "--no-index" not in words or "--no-deps" not in words:
                problems.append(f"line {run.line}: `{text}` resolves packages by name: use a hashed lock file")
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
        + hash_problems(all_stages)
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
    wheels = " ".join(i.body() for i in builder.all("RUN"))
    assert "pip install --require-hashes --no-deps -r requirements/build.lock" in wheels
    assert "--only-binary=:all: --wheel-dir /wheels -r requirements/image.lock" in wheels
    assert "pip wheel --no-deps --no-build-isolation --wheel-dir /wheels ." in wheels
    installs = [i for i in final.all("RUN") if "--find-links /wheels --no-deps taskops" in i.body()]
    assert installs, "the final stage does not install taskops from the wheels"
    # the wheels reach the final stage from the builder (a bind mount or a COPY --from), nothing else
    assert any(i.flags().get("mount", "").find("from=builder") >= 0 for i in installs) or any(
        c.flags().get("from") == "builder" for c in final.all("COPY")
    )
    assert any("rm -rf /root/.cache/pip" in i.body() or "--no-cache-dir" in i.body() for i in installs)
    (install,) = installs
    assert "--require-hashes --no-deps -r /requirements/image.lock" in install.body()
    assert "pip check" in install.body(), "with --no-deps, only pip check shows a dependency missing from the lock"


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

BUILDER = """\
FROM python:3.11.14-slim-bookworm AS builder
RUN pip install --require-hashes -r build.lock && pip wheel --require-hashes -w /wheels -r image.lock
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .
"""
GOOD = (
    BUILDER
    + """\
FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.source="https://example.invalid/taskops" \\
      org.opencontainers.image.title=taskops org.opencontainers.image.licenses=Apache-2.0
ENV PYTHONUNBUFFERED=1 \\
    # a comment inside a continuation is dropped
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /wheels /wheels
RUN pip install --no-index --find-links /wheels --no-deps taskops && rm -rf /wheels
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["taskops"]
CMD ["operator"]
"""
)


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    parsed = parse(GOOD)
    env = next(i for i in parsed if i.keyword == "ENV")
    assert env.line == 7
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
        (BUILDER, "", "multi-stage"),
        ("USER 10001:10001", "USER 0:0", "is root"),
        ("USER 10001:10001", "USER taskops", "not numeric"),
        ("USER 10001:10001\n", "", "no USER"),
        ('ENTRYPOINT ["taskops"]', "ENTRYPOINT taskops", "exec form"),
        ('ENTRYPOINT ["taskops"]', 'ENTRYPOINT ["python", "-m", "taskops.cli"]', "exec form"),
        ("--no-index --find-links", "--find-links", "--no-index"),
        (
            "RUN pip install --no-index",
            "RUN python -m pip wheel --no-deps --no-build-isolation -w /w . && pip install --no-index",
            "builds wheels",
        ),
        ("pip wheel --require-hashes -w", "pip wheel -w", "without --require-hashes"),
        ("RUN pip wheel --no-deps --no-build-isolation", "RUN pip wheel --no-deps", "without --no-build-isolation"),
        ("RUN pip wheel --no-deps --no-build-isolation", "RUN pip wheel --no-build-isolation", "without --no-deps"),
        ("--find-links /wheels --no-deps taskops", "--find-links /wheels taskops", "resolves packages by name"),
        ("RUN pip install --require-hashes -r build.lock", "RUN pip install setuptools", "resolves packages by name"),
        (
            "RUN pip install --no-index",
            "RUN apt-get update && apt-get install -y gcc && pip install --no-index",
            "build tools",
        ),
        (
            "RUN pip install --no-index",
            "RUN apt-get install -y --no-install-recommends build-essential; pip install --no-index",
            "build",
        ),
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


# --- the lock files the Dockerfile installs ------------------------------------------------------------

LOCKS = REPO / "requirements"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """`name==version \\` lines and their `--hash=` continuation lines: name -> (version, hashes)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line:
            continue
        if line.startswith("--hash="):
            assert current, f"{path.name}: a hash before any requirement"
            entries[current][1].append(line.removeprefix("--hash="))
            continue
        assert not line.startswith("-"), f"{path.name}: option {line!r} (an index, find-links or editable)"
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[A-Za-z0-9._-]+", name), f"{path.name}: {line!r} is not pinned with =="
        current = normalized(name)
        entries[current] = (version.strip(), [])
    return entries


def requirements_of(table: list[str]) -> list[Requirement]:
    return [Requirement(spec) for spec in table]


@pytest.mark.parametrize(
    ("lock", "section"), [("image.lock", ("project", "dependencies")), ("build.lock", ("build-system", "requires"))]
)
def test_each_lock_pins_every_requirement_of_pyproject_with_hashes(lock: str, section: tuple[str, str]) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    entries = lock_entries(LOCKS / lock)
    assert entries, f"{lock} is empty"
    for name, (version, hashes) in entries.items():
        assert hashes, f"{lock}: {name}=={version} has no hash: pip --require-hashes would refuse it"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{lock}: {name}: {hashes}"
    required = requirements_of(pyproject[section[0]][section[1]])
    assert required, f"pyproject.toml [{'.'.join(section)}] is empty"
    for req in required:
        found = entries.get(normalized(req.name))
        assert found is not None, f"{lock} lacks {req.name}, a requirement in pyproject.toml [{'.'.join(section)}]"
        assert req.specifier.contains(found[0], prereleases=True), (
            f"{lock} pins {req.name}=={found[0]}, outside pyproject.toml's {req}: regenerate the lock"
        )


def test_the_image_lock_holds_no_development_tool() -> None:
    """The lock is of pyproject.toml's runtime dependencies (`requests` is one too: the kubernetes client's)."""
    tools = {"pytest", "mypy", "ruff", "hypothesis", "import-linter", "schemathesis", "selenium", "matplotlib"}
    assert not tools & lock_entries(LOCKS / "image.lock").keys()


def test_the_lock_parser_refuses_what_pip_would_not_pin(tmp_path: Path) -> None:
    for text in (
        "kopf>=1.0\n",
        "--index-url https://example.invalid/simple\nkopf==1.0 \\\n    --hash=sha256:" + "0" * 64,
    ):
        path = tmp_path / "x.lock"
        path.write_text(text)
        with pytest.raises(AssertionError):
            lock_entries(path)
    path.write_text("kopf==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r pyproject.toml\n")
    assert lock_entries(path) == {"kopf": ("1.0", ["sha256:" + "a" * 64])}
