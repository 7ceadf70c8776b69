# A real Python aiomsg release from PyPI plus the conformance agent (python/agent.py).
# Build context: the repository root.
# PYTHON_IMAGE: any image with python3 and its venv module (default the official
# python:3.11-slim; interop/docker/provision.sh builds a Debian one when registries
# are out of reach). The optional build secret `ca` is a CA bundle that pip trusts
# (for TLS-intercepting proxies); without it pip uses its own bundle.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ARG AIOMSG_VERSION=2026.7.1
RUN --mount=type=secret,id=ca \
    set -e; \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -m venv /opt/aiomsg; \
    /opt/aiomsg/bin/pip install --no-cache-dir --disable-pip-version-check --quiet "aiomsg==${AIOMSG_VERSION}"; \
    /opt/aiomsg/bin/python -c "import aiomsg, importlib.metadata as m; assert m.version('aiomsg') == '${AIOMSG_VERSION}', m.version('aiomsg')"
ENV PATH=/opt/aiomsg/bin:$PATH PYTHONUNBUFFERED=1
COPY interop/python/ /interop/python/
ENTRYPOINT ["python", "/interop/python/agent.py"]
