# The pipeline image: one image, three roles (gateway, worker, and the operator commands).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY invoicing ./invoicing
COPY schemas ./schemas
COPY sources ./sources
COPY sinks ./sinks
COPY streams ./streams
RUN pip install --no-cache-dir '.[rocksdb]'
RUN useradd --create-home invoicing && mkdir -p /data && chown invoicing /data
USER invoicing
ENTRYPOINT ["invoicing"]
CMD ["--help"]
