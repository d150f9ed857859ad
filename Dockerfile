# One image for every SOLLOL role: gateway, GPU-box worker, beat, control worker, Flower, simulator.
# Roles differ only in `command` (see docker-compose.yml). Configuration is env-only (SOLLOL_*).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sollol ./sollol
RUN python -m venv /opt/sollol && /opt/sollol/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/sollol/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SOLLOL_BIND=0.0.0.0 \
    SOLLOL_PORT=8000
COPY --from=build /opt/sollol /opt/sollol
COPY deploy/sim /app/deploy/sim
WORKDIR /app
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin sollol
USER sollol
EXPOSE 8000
# One check per role, read from the container's command (sollol/probe.py): the gateway answers
# /api/health, a worker's heartbeat is in Redis, the control worker answers a ping, beat's health
# rounds are recent, Flower answers /healthcheck. Compose names the role explicitly.
HEALTHCHECK --interval=15s --timeout=25s --start-period=30s --retries=3 \
    CMD ["python", "-m", "sollol.probe", "auto"]
CMD ["sollol", "gateway"]
