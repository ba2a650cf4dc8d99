# Label Studio 1.23 from PyPI, for machines that cannot pull heartexlabs/label-studio (docker/compose.offline.yml):
# backend/ops/labelstudio-requirements.txt at the versions labelstudio-constraints.txt pins, as `up
# --label-studio` installs it. Built from the repository's root.
ARG BASE=ner-base:bookworm
FROM ${BASE}
LABEL org.ner-backend.image=labelstudio
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY backend/ops/labelstudio-requirements.txt /tmp/requirements.txt
COPY backend/ops/labelstudio-constraints.txt /tmp/constraints.txt
RUN python3 -m venv /opt/ls && /opt/ls/bin/pip install -q -c /tmp/constraints.txt --upgrade pip \
    && /opt/ls/bin/pip install -q -c /tmp/constraints.txt --build-constraint /tmp/constraints.txt -r /tmp/requirements.txt
RUN useradd --create-home --uid 10002 ls && mkdir -p /label-studio/data && chown ls:ls /label-studio/data
ENV PATH=/opt/ls/bin:$PATH LABEL_STUDIO_BASE_DATA_DIR=/label-studio/data
USER ls
EXPOSE 8080
CMD ["label-studio", "start", "--no-browser", "--host", "0.0.0.0", "-p", "8080"]
