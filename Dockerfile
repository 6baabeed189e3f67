# The taskops image: `taskops operator` by default, `taskops api` for the REST API.
#
#   docker build -t taskops:dev .
#   docker run --rm --read-only --tmpfs /tmp taskops:dev --help
#
# Both stages use the same pinned base (exact patch version and Debian release, never a
# floating tag), the default of BASE. Every Python package is pinned with its hashes in
# requirements/image.lock (the runtime) and requirements/build.lock (setuptools and wheel for
# building taskops); pip refuses any file whose hash is not there (--require-hashes).
# docs/operating.md ("Dependencies") says how to bump them. tests/unit/test_dockerfile.py checks
# the rules below, and tests/integration/test_packaging.py runs the same pip steps outside Docker.
# Needs BuildKit (the default builder since Docker 23) for the bind mounts in the final stage.
#
# BASE is an argument only so that a machine with no registry can build this file unchanged
# from a Debian bookworm base with python3 made locally (docs/realnode.md: buildah --pull=never
# --build-arg BASE=...). A release is always built from the default.
ARG BASE=python:3.11.14-slim-bookworm

# --- Stage 1: wheels for taskops and every runtime dependency -----------------------------
FROM ${BASE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The locked dependencies first: this layer is rebuilt only when a lock file changes. Binary
# wheels only, exactly as published (their hashes are in the lock): nothing is compiled here.
COPY requirements/ requirements/
RUN python -m pip install --require-hashes --no-deps -r requirements/build.lock \
    && python -m pip wheel --require-hashes --no-deps --only-binary=:all: --wheel-dir /wheels \
       -r requirements/image.lock
# Only what the wheel is built from: the package metadata (README.md is its long description)
# and the package itself. Tests, benchmarks, docs and the dev cluster stay out of the image.
# No build isolation: the build uses the setuptools and wheel just installed from the lock.
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# --- Stage 2: the runtime, wheels only: no compilers, no sources, no build tools -----------
FROM ${BASE}

LABEL org.opencontainers.image.title="taskops" \
      org.opencontainers.image.description="A Kubernetes operator that manages tasks as custom resources, and its REST API." \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# A system user with no login shell and no home directory: nothing is written outside /tmp,
# so the image runs with a read-only root filesystem (mount an emptyDir or tmpfs at /tmp).
RUN groupadd --system --gid 10001 taskops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin taskops

# The wheels and the lock are bind-mounted from the builder, so they never become a layer of
# this image. The dependencies install against their hashes again, then taskops (built above,
# so it has no published hash) without dependencies; `pip check` proves nothing is missing.
# pip compiles the bytecode here, as root, so nothing needs writing at run time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/requirements,target=/requirements \
    python -m pip install --no-cache-dir --no-index --find-links /wheels --require-hashes --no-deps \
       -r /requirements/image.lock \
    && python -m pip install --no-cache-dir --no-index --find-links /wheels --no-deps taskops \
    && python -m pip check \
    && rm -rf /root/.cache/pip \
    && taskops --help > /dev/null

WORKDIR /tmp
USER 10001:10001

# 8080: the REST API (`taskops api`); 8081: the operator's health and metrics endpoint.
EXPOSE 8080 8081

ENTRYPOINT ["taskops"]
CMD ["operator"]
