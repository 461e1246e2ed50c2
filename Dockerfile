# The tenantry binary in a small image. Build context: the repository root.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p tenantry

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /var/lib/tenantry tenantry
COPY --from=build /src/target/release/tenantry /usr/local/bin/tenantry
USER tenantry
WORKDIR /var/lib/tenantry
ENV TENANTRY_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["tenantry"]
CMD ["serve"]
