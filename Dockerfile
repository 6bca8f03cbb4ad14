FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY realtime ./realtime
COPY jobs ./jobs
COPY models ./models
COPY migrations ./migrations
COPY alembic.ini ./
RUN pip install --no-cache-dir .
ENV PORT=8080
EXPOSE 8080
CMD ["python", "-m", "server", "serve", "--host", "0.0.0.0", "--port", "8080"]
