# spanring-agent in a container (deploy/compose.yaml, profile agent-in-container): built from
# this repository into the Debian packages, which are then installed into a slim image.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./scripts/setup.sh \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DSPANRING_BUILD_TESTS=OFF -DSPANRING_BUILD_BENCH=OFF \
 && cmake --build build \
 && cd build && cpack -G DEB

FROM debian:12-slim
COPY --from=build /src/build/spanring-agent_*.deb /tmp/
RUN apt-get update && apt-get install -y --no-install-recommends /tmp/spanring-agent_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb
CMD ["spanring-agent", "--config", "/etc/spanring/agent.yaml"]
