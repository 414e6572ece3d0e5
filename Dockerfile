# NiceChat's image: slim Python with only the run-time dependencies (pinned with hashes), run as a non-root user.
#   docker build -t nicechat .
#   docker run -p 8080:8080 -e STORAGE_SECRET=... -v nicechat-data:/data nicechat
# Several instances, PostgreSQL, Redis and nginx: deploy/compose.yaml (README, "Deploying").

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock deploy/runtime_requirements.py ./
# The lock also pins the test and dev tools: install only what the app needs, every file checked against its hash.
RUN python runtime_requirements.py pyproject.toml requirements.lock > runtime.txt \
 && python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps -r runtime.txt \
 && /venv/bin/pip check

FROM python:3.11-slim
# A fixed uid, so a volume's files keep their owner across rebuilds; /data is the only place it writes.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin nicechat \
 && mkdir /data && chown nicechat /data
COPY --from=build /venv /venv
WORKDIR /app
COPY main.py ./
COPY app ./app
COPY components ./components
# NiceGUI keeps its file storage (when there is no REDIS_URL) under NICEGUI_STORAGE_PATH: in /data, not the code.
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data \
    NICEGUI_STORAGE_PATH=/data/.nicegui
USER nicechat
EXPOSE 8080
VOLUME ["/data"]
# /healthz is answered by the process itself (no database or Redis): a container is restarted only when it is stuck.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"
CMD ["python", "main.py"]
