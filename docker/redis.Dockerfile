# Redis from Debian's archive, for machines that cannot pull redis:7-alpine (docker/compose.offline.yml).
ARG BASE=ner-base:bookworm
FROM ${BASE}
LABEL org.ner-backend.image=redis
RUN apt-get update -q && apt-get install -y -q --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
