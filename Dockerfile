# Multi-stage build on Debian bookworm, with the same install script as the README.
#   ../shared/tools/container.sh build cairn:dev
#   ../shared/tools/container.sh run cairn:dev            (cairnd on 0.0.0.0:2379)
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build build-* \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_BENCHMARKS=OFF \
 && cmake --build build -j "$(nproc)" --target cairnd \
 && (cmake --build build -j "$(nproc)" --target cairnctl cairn-bench || true) \
 && strip build/bin/*

FROM debian:bookworm
COPY scripts/install-deps.sh /usr/local/lib/cairn/install-deps.sh
RUN /usr/local/lib/cairn/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/ /usr/local/bin/
# Settings come from the environment (CAIRN_<FLAG>, or etcd's ETCD_<FLAG>), so `cairnd` with no
# arguments inside the container serves every interface; flags on the command line still win.
ENV CAIRN_DATA_DIR=/var/lib/cairn \
    CAIRN_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    CAIRN_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379 \
    CAIRN_LISTEN_PEER_URLS=http://0.0.0.0:2380
VOLUME /var/lib/cairn
EXPOSE 2379 2380
CMD ["cairnd"]
