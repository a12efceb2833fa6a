# Settle's image: one image, the coordinator or any participant by its command.
#   podman build --format docker -t localhost/settle:latest .   (docker format keeps HEALTHCHECK)
#   podman run -p 127.0.0.1:7070:7070 localhost/settle:latest settle-coordinator
#   podman run localhost/settle:latest settle-participant --kind=balance
#   podman run -e SETTLE_STORE='host=db dbname=payments passfile=/run/secrets/pgpass' \
#       localhost/settle:latest settle-participant --kind=balance      (balance on PostgreSQL)
#   podman run localhost/settle:latest settle-notifier --amqp_host=... --webhook_url=... \
#       --webhook_key_file=/run/secrets/webhook-key
# The builder reuses a ccache directory when one is mounted at /ccache
# (podman build -v /var/tmp/settle-ccache:/ccache ...), so rebuilds skip most of the compile.

FROM debian:bookworm-slim AS builder
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++ cmake make pkg-config ccache \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      librocksdb-dev libabsl-dev prometheus-cpp-dev libgoogle-perftools-dev libgtest-dev libgmock-dev \
      librabbitmq-dev librdkafka-dev libnats-dev libssl-dev libcurl4-openssl-dev libcpp-httplib-dev \
      libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY proto proto
COPY common common
COPY storage storage
COPY server server
COPY client client
COPY messaging messaging
COPY participants participants
COPY bench bench
COPY launch launch
COPY tests tests
ENV CCACHE_DIR=/ccache
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSETTLE_TEST_HOOKS=OFF -DSETTLE_SDKS=OFF >/dev/null \
    && cmake --build /build -j"$(nproc)" --target settle-coordinator settle-participant \
       settle-notifier settle settle-conformance \
    && strip /build/settle-coordinator /build/settle-participant /build/settle-notifier /build/settle \
       /build/settle-conformance

FROM debian:bookworm-slim
# Runtime libraries only.
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 librocksdb7.8 libprometheus-cpp-pull1.0 \
      libprometheus-cpp-core1.0 libabsl20220623 libtcmalloc-minimal4 librabbitmq4 librdkafka1 libssl3 libcurl4 \
      libpq5 libnats3.4 libcpp-httplib0.11 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home settle
COPY --from=builder /build/settle-coordinator /build/settle-participant /build/settle-notifier \
     /build/settle /build/settle-conformance /usr/local/bin/
USER settle
WORKDIR /data
VOLUME /data
ENV SETTLE_LISTEN=0.0.0.0:7070 \
    SETTLE_METRICS_LISTEN=0.0.0.0:9464 \
    SETTLE_DATA_DIR=/data/settle
EXPOSE 7070 9464
# grpc.health.v1 on the process's own listen address.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s \
  CMD settle health --at="127.0.0.1:${SETTLE_LISTEN##*:}" || exit 1
CMD ["settle-coordinator"]
