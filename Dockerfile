# The tenantry binary in a small image, run as an unprivileged user. Build context: the
# repository root (see .dockerignore).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p tenantry

FROM debian:bookworm-slim
# CA roots for the HTTPS the service speaks outward (SMTP over TLS, trace and error exports).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/tenantry tenantry
COPY --from=build /src/target/release/tenantry /usr/local/bin/tenantry
USER tenantry
WORKDIR /var/lib/tenantry
# The master key file and files' content (TENANTRY_FILES) live here: a volume in compose,
# owned by tenantry because the image's directory is.
RUN mkdir -p /var/lib/tenantry/data
# The API; and the internal listener (/metrics, /tls/ask) for the container network only.
ENV TENANTRY_BIND=0.0.0.0:8080 \
    TENANTRY_INTERNAL_BIND=0.0.0.0:9464
EXPOSE 8080 9464
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD ["tenantry", "health"]
ENTRYPOINT ["tenantry"]
CMD ["serve"]
