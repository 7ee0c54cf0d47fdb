# imagebatch: one image for the API server and the workers (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --create-home --uid 10001 imagebatch \
    && mkdir /data && chown imagebatch /data

USER imagebatch
# Everything is configured through IMAGEBATCH_* variables (see docs/configuration.md).
ENV IMAGEBATCH_DATA_DIR=/data
VOLUME /data
EXPOSE 8000

# Workers: `imagebatch worker`. API only: `imagebatch serve --no-workers`.
CMD ["imagebatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
