# syntax=docker/dockerfile:1
#
# One image for every service: `spend ingestor`, `spend rewarder`, `spend informer`,
# `spend campaignex` (and the tool commands). The build context is this repository's root;
# `../shared` is not needed (nothing the release binary compiles reads it).
#
#   docker build -t spend:local .
#   docker run --rm spend:local --help
#
# The tags are pinned; pin the digests too where images are mirrored
# (`FROM rust:1.95-bookworm@sha256:...`).

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder

# protoc and the well-known .proto files: etcd-client's build script runs protoc. librdkafka is
# bundled by rdkafka-sys and built with its own configure script (make and a C compiler, which
# the rust image has); it links zlib and OpenSSL (TLS, SASL SCRAM for Kafka; TLS for ScyllaDB)
# from the system: libssl-dev.
RUN apt-get update \
    && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Registry, git checkouts and target/ live in BuildKit cache mounts, so a rebuild after a source
# change recompiles only the workspace crates. target/ is a cache, not a layer: the binary is
# copied out of it in the same step.
RUN --mount=type=cache,id=spend-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=spend-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=spend-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p spend --bin spend \
    && install -D -m 0755 target/release/spend /out/spend

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates: the system trust store, for Kafka, ScyllaDB and S3 over TLS without a CA file
# of their own; libssl3: OpenSSL, which librdkafka and the ScyllaDB driver link. Otherwise the
# binary needs only libc, libgcc_s, libm and zlib, all in the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 spend \
    && useradd --system --uid 10001 --gid spend --home-dir /var/lib/spend --create-home \
        --shell /usr/sbin/nologin spend

COPY --from=builder /out/spend /usr/local/bin/spend

USER 10001:10001
WORKDIR /var/lib/spend

ENV SPEND_LOG_FORMAT=json \
    RUST_LOG=info

# 8080: the HTTP services (SPEND_LISTEN); 9091: the rewarder's health and metrics
# (SPEND_REWARDER_LISTEN). No HEALTHCHECK here: the port depends on the service; compose and
# the Helm chart probe /healthz and /readyz themselves.
EXPOSE 8080 9091

ENTRYPOINT ["spend"]
CMD ["--help"]
