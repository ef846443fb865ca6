# syntax=docker/dockerfile:1
# The `vigil` binary (scan and operator) on a distroless, non-root base.
#   docker build -t ghcr.io/vigil-dev/vigil:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit); the binary is copied out of
# the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vigil \
    && cp target/release/vigil /vigil

# glibc + libgcc, CA certificates, user nonroot (65532); no shell. TLS is rustls, so nothing else is needed.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /vigil /vigil
USER 65532:65532
ENTRYPOINT ["/vigil"]
