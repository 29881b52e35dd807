# agenttrail as a container: `docker build -t agenttrail .`, then
#   docker run --rm agenttrail run --source s3://trail-bucket --lake s3://lake-bucket/agenttrail --publish
# The scheduled ECS Fargate task of deploy/agenttrail.template.json runs this image.

# Build: release binary on the toolchain the project is tested with.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The native dependencies need a C compiler (aws-lc, zstd) and make (jemalloc); no OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make=4.3-4.1 \
 && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked --bin agenttrail \
 && cp target/release/agenttrail /agenttrail

# Run: glibc, CA certificates and a non-root user, nothing else (no shell, no package manager).
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="agenttrail" \
      org.opencontainers.image.description="See what AI agents do in your AWS accounts: CloudTrail to a lake, detections, CloudWatch alarms" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/agenttrail/agenttrail"
WORKDIR /opt/agenttrail
COPY --from=build /agenttrail /usr/local/bin/agenttrail
COPY queries ./queries
COPY alarms ./alarms
# Writable scratch space (temporary files, shell history); the task mounts a volume here so the root
# file system can stay read-only.
ENV AGENTTRAIL_CACHE_DIR=/scratch/cache \
    TMPDIR=/scratch
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agenttrail"]
CMD ["--help"]
