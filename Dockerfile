# syntax=docker/dockerfile:1
# The `vigil` binary (scan and operator) on a distroless, non-root base, stripped (see `make release`).
#   docker build -t ghcr.io/vigil-dev/vigil:0.1.0 .
# Its symbols and line tables (vigil.debug, for gdb, perf or addr2line on a crash from this image):
#   docker build --target debug-symbols --output type=local,dest=dist .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit); the files are copied out of
# the cached target dir in the same step. `make release` builds once and splits the debug info off.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    make release DIST=/dist

FROM scratch AS debug-symbols
COPY --from=build /dist/vigil.debug /vigil.debug

# glibc + libgcc, CA certificates, user nonroot (65532); no shell. TLS is rustls, so nothing else is needed.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /dist/vigil /vigil
USER 65532:65532
ENTRYPOINT ["/vigil"]
