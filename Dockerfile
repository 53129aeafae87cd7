# executus in a container: `docker compose --profile single up` (see compose.yaml
# and README, "Run in a container").

# --- build: install the project and its run-time extras into a venv ----------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY executor ./executor
COPY bot ./bot
COPY cogs ./cogs
# Extras the bot uses at run time; otel lets OTEL_EXPORTER_OTLP_ENDPOINT
# switch traces on, mcp lets server files in MCP_DIR add MCP tools. Build
# with --build-arg EXTRAS= for the bare bot.
ARG EXTRAS=otel,mcp
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

# --- run: the venv, the shipped agents and skills, a non-root user -----------
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 executus \
 && useradd --system --uid 10001 --gid executus --home-dir /app --no-create-home --shell /usr/sbin/nologin executus \
 && mkdir -p /data \
 && chown executus:executus /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY agents ./agents
COPY skills ./skills
# The database and the files agents make live on the volume; /healthz needs
# the metrics server, which listens on every address inside the container
# (publish the port only where Prometheus can reach it).
ENV DATABASE_URL=sqlite:////data/executus.db \
    ARTIFACTS_DIR=/data/artifacts \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9464
VOLUME /data
EXPOSE 9464
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
# `docker run IMAGE` runs the bot; `docker run IMAGE migrate` or `chat ...` a sub-command.
ENTRYPOINT ["python", "-m", "bot"]
