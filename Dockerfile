# syntax=docker/dockerfile:1
# The escalation service's image: `docker build -t escalations .`, then see compose.yaml and docs/deploy.md.
# The wheel is built in the first stage; the second runs it on a slim Python base, as a user without privileges.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY plugin/ plugin/
# The project's wheel and those of its dependencies, so that the next stage installs without an index.
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="Escalation Requests for Zendesk" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ESCALATIONS_DATA_DIR=/var/lib/escalations \
    ESCALATIONS_HOST=0.0.0.0 \
    ESCALATIONS_PORT=8000
RUN groupadd --system --gid 10001 escalations \
 && useradd --system --uid 10001 --gid escalations --home-dir /var/lib/escalations --no-create-home \
      --shell /usr/sbin/nologin escalations \
 && install -d -o escalations -g escalations -m 0700 /var/lib/escalations
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links /wheels zendesk-escalations
# An empty working directory: no .env is read unless one is mounted here on purpose.
WORKDIR /app
USER 10001:10001
VOLUME ["/var/lib/escalations"]
EXPOSE 8000
# SIGTERM lets the web processes answer the requests in flight and the worker finish its jobs.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["escalations", "healthcheck"]
ENTRYPOINT ["escalations"]
CMD ["serve"]
