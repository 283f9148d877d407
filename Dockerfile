# Stave's one container image: every component runs from it as `stave -target=<component>` (distributor,
# ingester, querier, query-frontend, compactor, metrics-generator; `all` by default).
#
#   docker build -t stave --build-arg REVISION=$(git rev-parse --short HEAD) .
#   docker run --rm -p 3200:3200 -p 4317:4317 -p 4318:4318 -v stave-data:/var/lib/stave stave
#   docker run ... stave -target=ingester -config.file=/etc/stave/stave.yaml
#
# The build stage runs `make image-root`; the final stage copies exactly the folder it assembles (the CLI
# with production dependencies only), so test/image-root.test.ts, which starts that folder alone and reads
# a trace back, proves the image's contents where no container runtime runs. The image runs as a non-root
# user and writes nothing outside /var/lib/stave (the working directory and a volume: data defaults to
# ./data there), so it runs with a read-only root filesystem.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends make \
  && rm -rf /var/lib/apt/lists/* \
  && npm install -g pnpm@12.4.2
WORKDIR /src
# Dependencies first (from the lockfile alone), so a source change does not download them again.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
ARG REVISION=""
ARG BRANCH=""
RUN STAVE_REVISION="${REVISION}" STAVE_BRANCH="${BRANCH}" make image-root IMAGE_ROOT=/image-root

FROM ${NODE_IMAGE}
RUN groupadd --system --gid 10001 stave \
  && useradd --system --uid 10001 --gid stave --home-dir /var/lib/stave --shell /usr/sbin/nologin stave \
  && mkdir -p /var/lib/stave \
  && chown stave:stave /var/lib/stave
# Owned by root and not writable by the user Stave runs as.
COPY --from=build /image-root /app
ENV NODE_ENV=production
USER 10001:10001
WORKDIR /var/lib/stave
VOLUME ["/var/lib/stave"]
# HTTP API, internal RPC, OTLP gRPC/HTTP, Jaeger gRPC/thrift HTTP/compact/binary, Zipkin, memberlist.
EXPOSE 3200 9095 4317 4318 14250 14268 6831/udp 6832/udp 9411 7946
ENTRYPOINT ["/app/bin/stave"]
CMD ["-target=all"]
