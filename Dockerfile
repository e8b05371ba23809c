# syntax=docker/dockerfile:1
# Session Ledger's image: the wheel built from this tree, installed with the pinned runtime
# dependencies (requirements/runtime.lock) into a virtual environment, run as an unprivileged
# user. The entry point is the `ledger` command: `docker run <image> worker`, `... sink`.
# docker-compose.yml builds it; .dockerignore keeps the context to what the wheel needs.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/session-ledger \
 && /opt/session-ledger/bin/python -m pip install --require-hashes -r requirements/runtime.lock \
 && /opt/session-ledger/bin/python -m pip install --no-deps /dist/session_ledger-*.whl \
 && /opt/session-ledger/bin/python -m pip check

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 ledger \
 && useradd --system --uid 10001 --gid ledger --home-dir /var/lib/session-ledger --create-home ledger
COPY --from=build /opt/session-ledger /opt/session-ledger
ENV PATH=/opt/session-ledger/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LEDGER_STATE_DIR=/var/lib/session-ledger
USER ledger:ledger
WORKDIR /var/lib/session-ledger
VOLUME ["/var/lib/session-ledger"]
EXPOSE 6066
ENTRYPOINT ["ledger"]
CMD ["--help"]
