# groved on Debian 12: build with the project's own setup script, run the
# daemon as the unprivileged user groved (uid 10001) with its store in /data.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh && \
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && \
    cmake --build build -j"$(nproc)" --target groved grovectl drop_private

FROM debian:12
RUN apt-get update && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsqlite3-0 libprotobuf-c1 libgrpc29 libnng1 libmbedtls14 libmicrohttpd12 libcurl3-gnutls \
      libsystemd0 ca-certificates curl && \
    rm -rf /var/lib/apt/lists/*
# The user and /data come before VOLUME: a new named volume starts as a copy
# of /data, owned by groved. (A volume an older image created as root needs a
# `chown -R 10001:10001` once.)
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin groved && \
    mkdir -p /data && chown groved:groved /data && chmod 0750 /data
COPY --from=build /src/build/bin/groved /src/build/bin/grovectl /usr/local/bin/
COPY --from=build /src/build/plugins/ /usr/local/lib/groved/plugins/
USER groved:groved
WORKDIR /data
VOLUME /data
EXPOSE 8080 50051 7070
ENTRYPOINT ["groved"]
