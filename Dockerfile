# paydesk: one static-ish binary on a slim Debian, run as a non-root user.
# Build: docker build -t paydesk .    Run: see docs/OPERATIONS.md ("Container").
# scripts/container-check.sh lints this file and runs its build and run steps outside a container.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the image builds exactly the dependency versions CI tested.
RUN cargo build --release --locked --bin paydesk

FROM debian:bookworm-slim
# Innopay and webhook endpoints are reached over TLS checked against the system's roots.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/paydesk --create-home paydesk
COPY --from=build /src/target/release/paydesk /usr/local/bin/paydesk
# Numeric, so a runtime that cannot read /etc/passwd still drops root.
USER 10001:10001
WORKDIR /var/lib/paydesk
# All interfaces inside the container; the published port decides who reaches it. JSON logs for the
# log shipper. The SQLite default lives in the volume; production sets PAYDESK_DATABASE_URL.
ENV PAYDESK_ADDR=0.0.0.0:8080 \
    PAYDESK_LOG_FORMAT=json
VOLUME ["/var/lib/paydesk"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s CMD ["/usr/local/bin/paydesk", "healthcheck"]
# SIGTERM drains in-flight requests for PAYDESK_SHUTDOWN_TIMEOUT_SECS (default 20 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/paydesk"]
CMD ["serve"]
