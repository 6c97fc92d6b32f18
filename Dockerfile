# syntax=docker/dockerfile:1
# News summarisation and translation service.
#
#   docker build -t newsroom-nlp:cpu .                          # CPU (default target)
#   docker build -t newsroom-nlp:cuda --target cuda .           # CUDA torch; run with --gpus
#   docker build -t newsroom-nlp:cpu --build-arg BAKE_MODELS=1 .  # models inside the image
#   docker build -t newsroom-nlp:cpu-slim --target cpu-slim .   # no PyTorch (see below)
#
# Without BAKE_MODELS=1, mount the models at /models (see deploy/README.md). The image serves
# /models/summarize, /models/en-fr and /models/en-ar offline; to serve Hub ids instead, set
# SUMMARIZE_MODEL / TRANSLATE_MODELS to them and HF_HUB_OFFLINE=0 at run time.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies only change with requirements.txt, so they are cached apart from the code.
# torch comes from the PyTorch index of the wanted build, at the version requirements.txt pins;
# the second install then finds it satisfied (2.13.0+cpu is ==2.13.0) and adds the rest.
FROM base AS venv-cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" \
        "$(grep -E '^torch==' requirements.txt)" \
    && pip install --no-cache-dir -r requirements.txt

# PyTorch only converts models for CTranslate2 (and runs BACKEND=transformers): an image that
# serves conversions made ahead needs none of it, a third of the cpu image's size.
FROM base AS venv-slim
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && grep -v -E '^torch==' requirements.txt > /tmp/requirements-slim.txt \
    && pip install --no-cache-dir -r /tmp/requirements-slim.txt \
    && rm /tmp/requirements-slim.txt

FROM base AS venv-cuda
ARG TORCH_CUDA_INDEX_URL=https://download.pytorch.org/whl/cu128
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_CUDA_INDEX_URL}" \
        "$(grep -E '^torch==' requirements.txt)" \
    && pip install --no-cache-dir -r requirements.txt

# BAKE_MODELS=1 downloads the default models (the settings' Hub ids) into /models/KEY, where the
# runtime ENV below points. The cache mount keeps them across rebuilds, so a code change does
# not download them again. Without it, /models is an empty mount point. (The download runs in
# the CPU environment, so a cuda build builds that stage too.)
FROM venv-cpu AS models
ARG BAKE_MODELS=0
COPY service/ service/
RUN --mount=type=cache,target=/cache/models \
    mkdir /models \
    && if [ "${BAKE_MODELS}" = "1" ]; then \
        python -m service fetch-models --dest /cache/models \
        && cp -r /cache/models/. /models/; \
    fi

# What both targets share: nginx, the user, the settings, the port, the health check and the
# command. nginx is Debian's: unpinned, so a rebuild takes its security updates.
FROM base AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --shell /usr/sbin/nologin app \
    && install -d -o 10001 -g 10001 /tmp/huggingface /data
# HF_HOME and DATA_DIR (the jobs' SQLite file) exist in the image, owned by the app user, so a
# volume mounted there starts writable.
ENV SUMMARIZE_MODEL=/models/summarize \
    TRANSLATE_MODELS=en-fr=/models/en-fr,en-ar=/models/en-ar \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Numeric, so Kubernetes can verify runAsNonRoot without resolving the name.
USER 10001:10001
# The production front: nginx on port 8000 holds the clients, gunicorn behind it on a unix socket
# under /tmp (see service/ops/front.py). `gunicorn -c gunicorn.conf.py "service:create_app()"` runs
# gunicorn alone.
CMD ["python", "-m", "service", "front"]

# The GPUs come from `docker run --gpus` or the Kubernetes device plugin; the NVIDIA runtime
# mounts only the `utility` driver libraries unless the image asks for `compute` (CUDA) too.
FROM runtime AS cuda
ENV DEVICE=cuda \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=venv-cuda /opt/venv /opt/venv
COPY --from=models /models /models
COPY gunicorn.conf.py ./
COPY deploy/nginx.conf.template deploy/
COPY service/ service/

# CTranslate2 on the CPU without PyTorch: it serves the models mounted at /models from their
# conversions in /models/ctranslate2, made ahead by `fetch-models` with the cpu image (see the
# README); a model without one stops start-up with a one-line error. No BAKE_MODELS.
FROM runtime AS cpu-slim
ENV BACKEND=ctranslate2 \
    CT2_CACHE_DIR=/models/ctranslate2
COPY --from=venv-slim /opt/venv /opt/venv
COPY gunicorn.conf.py ./
COPY deploy/nginx.conf.template deploy/
COPY service/ service/

# The default target: last, so a plain `docker build .` builds it.
FROM runtime AS cpu
COPY --from=venv-cpu /opt/venv /opt/venv
COPY --from=models /models /models
COPY gunicorn.conf.py ./
COPY deploy/nginx.conf.template deploy/
COPY service/ service/
