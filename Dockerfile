# syntax=docker/dockerfile:1
#
# One image for the four services. The command picks the service:
#   python -m services.<intake|classifier|router|enforcement> serve
#   python -m services.<intake|router|enforcement> migrate
#
# Build:  docker build -t tns-pipeline:$(git rev-parse --short HEAD) .
# Pin the base image by digest in your registry mirror for reproducible builds.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: resolve the locked production dependencies into /app/.venv -------------------
FROM ${PYTHON_IMAGE} AS builder

# The uv version the lock file was produced and checked with.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# Dependencies first, so this layer is rebuilt only when the lock file changes.
# --no-dev: production dependencies only (no test tools, no embedded broker/PostgreSQL).
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself, installed as a regular (non-editable) wheel into the venv, so the
# runtime stage needs the venv only. README.md is the package's readme (pyproject `readme`).
COPY README.md ./
COPY shared ./shared
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# --- runtime: the venv on a clean slim image, run as an unprivileged user -------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 tns \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin tns

# Owned by root and not writable by the app user: the image works with readOnlyRootFilesystem.
COPY --from=builder /app/.venv /app/.venv

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TNS_HTTP_HOST=0.0.0.0 \
    TNS_HTTP_PORT=8000

# No source tree here: `services` and `shared` are imported from the venv's site-packages.
WORKDIR /app
USER 10001:10001
EXPOSE 8000

CMD ["python", "-m", "services.intake", "serve"]
