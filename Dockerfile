# syntax=docker/dockerfile:1
# The kube-reclaimer image:  docker build -t kube-reclaimer:0.1.0 .
# deploy/base runs it as user 65532 with a read-only root filesystem.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the crates and compiled dependencies between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin kube-reclaimer \
    && cp target/release/kube-reclaimer /usr/local/bin/kube-reclaimer

# glibc and libgcc (the binary links both), CA certificates (Prometheus and SMTP over
# TLS), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/kube-reclaimer /usr/local/bin/kube-reclaimer
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kube-reclaimer"]
CMD ["run", "--config", "/etc/kube-reclaimer/kube-reclaimer.yaml"]
