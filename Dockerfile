# The API and the worker share one image: `python -m api` (default) or `python worker.py`.
# Built by docker-compose.yml; configuration comes from the environment (docs/operating.md#configuration).

ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

# -- build: wheels of the project and every dependency ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY store ./store
COPY whatsapp ./whatsapp
COPY cli ./cli
COPY worker.py boot.py ./
RUN pip wheel --wheel-dir /wheels .

# -- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels wa-session-manager && rm -rf /wheels

WORKDIR /app
COPY --chown=app:app worker.py ./
USER app

EXPOSE 8000
CMD ["python", "-m", "api"]
