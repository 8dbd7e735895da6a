# Portcullis container image.
#
#   docker build -t portcullis .                     # the gateway (last stage: runtime)
#   docker build -t portcullis-demo --target demo .  # + development provider and demo app (never for production)
#   podman build --format docker -t portcullis .     # the same with podman (the test suite builds it so)
#
# Base image: node:<version>-bookworm-slim rather than an alpine one. It is glibc-based Debian, the
# same platform the test suite and CI run on, so the image runs exactly what was tested (no musl DNS
# or TLS differences), and "slim" keeps it small. NODE_VERSION is the Node.js 24 LTS release named
# by .node-version; CI runs the whole test suite on that exact version.
#
# The test suite builds both targets with podman and runs the result (test/container/): contents,
# non-root and read-only run, sign-in, health check, graceful stop, the Kubernetes example. Where no
# registry is reachable it builds FROM a local stand-in for the official base image
# (scripts/container/base-image.sh); everywhere else this file uses the official image.

# The Node.js release the image ships; .node-version names the same one, and the tests run on it.
ARG NODE_VERSION=24.22.3

# ---- build: all dependencies, then compile TypeScript to dist/ --------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# The manifests first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY demo ./demo
RUN npm run build

# ---- demo: the demo app and the development provider of docker/compose*.yaml; never production --
# It keeps the dev dependencies, which the development provider and the demo app need.
FROM build AS demo
USER node
EXPOSE 4191 8080
ENTRYPOINT ["node"]
CMD ["/app/dist/demo/upstream-main.js"]

# ---- runtime: production dependencies and the compiled gateway only ----------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf /root/.npm
COPY --from=build /app/dist/src ./dist/src
# The config is mounted here (a file, a ConfigMap or a secret); override the path if you like.
ENV PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml
# The health check calls this URL; change it when server.listen uses another port.
ENV PORTCULLIS_HEALTH_URL=http://127.0.0.1:4180/ping
# The official image's unprivileged user (uid 1000); the gateway needs no root and no writes.
USER node
# 4180: the gateway (server.listen). 9090: /metrics, when the config says `metrics.listen:
# "0.0.0.0:9090"` as every example config does; publish it to the network Prometheus scrapes from,
# never to the public one.
EXPOSE 4180 9090
# Liveness only (/ping): readiness (/ready) depends on Redis and the provider, and restarting a
# gateway does not fix either. Node's own fetch, so the image needs no curl or wget.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PORTCULLIS_HEALTH_URL || 'http://127.0.0.1:4180/ping', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM directly (no shell in between that would swallow
# it). The gateway installs its own SIGTERM/SIGINT handlers, so the kernel's rule that PID 1 ignores
# unhandled signals does not bite, and it starts no child processes, so there are no zombies to
# reap: no init process is needed. `docker run --init` adds one if your policy asks for it.
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["serve"]
