# nginx from Debian's archive, for machines that cannot pull nginx:1.27-alpine (docker/compose.offline.yml).
ARG BASE=ner-base:bookworm
FROM ${BASE}
LABEL org.ner-backend.image=proxy
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
CMD ["nginx", "-g", "daemon off;"]
