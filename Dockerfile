# syntax=docker/dockerfile:1

# --- build: compile the `pipewise` binary in release mode ---
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p pipewise-api

# --- runtime: a slim Debian with the binary, run as an unprivileged user ---
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 pipewise \
    && useradd --system --uid 10001 --gid pipewise --home-dir /data --no-create-home --shell /usr/sbin/nologin pipewise \
    && mkdir -p /data \
    && chown pipewise:pipewise /data
COPY --from=build /src/target/release/pipewise /usr/local/bin/pipewise
ENV PIPEWISE_BIND=0.0.0.0:8080 \
    PIPEWISE_DATABASE_URL=sqlite:///data/pipewise.db
VOLUME /data
WORKDIR /data
EXPOSE 8080
USER pipewise
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/pipewise"]
