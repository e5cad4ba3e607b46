# syntax=docker/dockerfile:1.7
# Two images from one file:
#   api    - slim, no torch:          docker build --target api -t radsynth-api .
#   worker - CUDA runtime base:       docker build --target worker -t radsynth-worker .
#            CPU-only worker:         docker build --target worker --build-arg WORKER_BASE=python:3.11-slim \
#                                       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .
ARG WORKER_BASE=nvidia/cuda:12.6.3-runtime-ubuntu24.04
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
ARG TORCH_SPEC=torch==2.13.0

# ---------------------------------------------------------------- API: FastAPI + Celery client, no torch
FROM python:3.11-slim AS api
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 \
    RADSYNTH_DATA_DIR=/data
RUN groupadd --system --gid 10001 radsynth \
    && useradd --system --uid 10001 --gid radsynth --home-dir /app radsynth \
    && mkdir -p /data /app && chown 10001:10001 /data /app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY core ./core
COPY models ./models
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[api]"  # the project itself; its dependency bounds live in pyproject.toml
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["python", "-m", "uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers", \
     "--timeout-graceful-shutdown", "20"]

# ---------------------------------------------------------------- worker: torch, diffusers, captum
FROM ${WORKER_BASE} AS worker
ARG TORCH_INDEX_URL
ARG TORCH_SPEC
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 \
    RADSYNTH_DATA_DIR=/data VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# CUDA bases (Ubuntu) need Python and venv; python:*-slim bases already have them. The distro's own
# python3 is wanted, whatever its patch version, so it is not pinned.
# hadolint ignore=DL3008
RUN if ! python3 -m venv --help >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv
# TORCH_SPEC pins torch (torch==2.13.0 by default); hadolint cannot see through the build argument.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"
RUN groupadd --system --gid 10001 radsynth \
    && useradd --system --uid 10001 --gid radsynth --home-dir /app radsynth \
    && mkdir -p /data /app && chown 10001:10001 /data /app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY core ./core
COPY worker ./worker
# The bundled models (models/pretrained) and the demo data sets (datasets/) are baked in here.
COPY models ./models
COPY datasets ./datasets
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[worker]"  # the project itself; bounds in pyproject.toml
USER 10001
CMD ["python", "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", "interactive,train", "-c", "1", \
     "--pool", "prefork", "-n", "worker@%h", "-l", "INFO", "--without-gossip", "--without-mingle"]
