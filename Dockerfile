# syntax=docker/dockerfile:1
# Multi-stage: build the server and the hydration bundle with cargo-leptos, then run them
# from a slim image as an unprivileged user.

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-unknown-unknown \
 && apt-get update \
 && apt-get install -y --no-install-recommends binaryen \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-leptos --version 0.3.10 --locked
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The CLI must match the wasm-bindgen crate pinned in Cargo.lock.
RUN cargo install wasm-bindgen-cli --version "$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
COPY . .
RUN cargo leptos build --release

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/shipgate --create-home shipgate
COPY --from=build /src/target/release/shipgate /usr/local/bin/shipgate
COPY --from=build /src/target/site /usr/share/shipgate/site
ENV SHIPGATE_LISTEN=0.0.0.0:3000 \
    DATABASE_URL=sqlite:/var/lib/shipgate/shipgate.db \
    LEPTOS_SITE_ROOT=/usr/share/shipgate/site \
    SHIPGATE_LOG_FORMAT=json
USER shipgate
WORKDIR /var/lib/shipgate
VOLUME /var/lib/shipgate
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/shipgate"]
CMD ["serve"]
