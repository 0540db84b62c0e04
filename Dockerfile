# itbot's image: the wheel (with the default config/ inside it) on a slim Python. One image, three roles:
# docker run IMAGE serve | worker | clock (see compose.yaml). Mount your own config/ at /app/config.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY bot ./bot
COPY workflows ./workflows
COPY connectors ./connectors
COPY config ./config
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 itbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/itbot-*.whl && rm -rf /wheels
WORKDIR /app
USER itbot
ENV PORT=3000 HOST=0.0.0.0 LOG_FORMAT=json
EXPOSE 3000
# SIGTERM stops every role cleanly (exit 0); give it 30 s before SIGKILL
STOPSIGNAL SIGTERM
ENTRYPOINT ["itbot"]
CMD ["serve"]
