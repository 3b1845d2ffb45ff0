# groved on Debian 12: build with the project's own setup script, run the daemon.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh && \
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && \
    cmake --build build -j"$(nproc)" --target groved

FROM debian:12
RUN apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsqlite3-0 libprotobuf-c1 libgrpc29 libnng1 libmicrohttpd12 libcurl3-gnutls \
      ca-certificates curl && \
    rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/groved /usr/local/bin/groved
VOLUME /data
EXPOSE 8080 50051
ENTRYPOINT ["groved"]
