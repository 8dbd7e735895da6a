# Portcullis container image.
#
#   docker build -t portcullis .                     # the gateway (last stage: runtime)
#   docker build -t portcullis-demo --target demo .  # + development provider and demo app (never for production)
#
# Base image: node:20-bookworm-slim rather than node:20-alpine. It is glibc-based Debian, the same
# platform the test suite and CI run on, so the image runs exactly what was tested (no musl DNS or
# TLS differences), and "slim" keeps it small. Node 20 matches package.json "engines".
# `scripts/image-check.mjs` replays these steps without a Docker engine; keep both in step.

# ---- build: all dependencies, then compile TypeScript to dist/ --------------------------------
FROM node:20-bookworm-slim AS build
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
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# The config is mounted here (a file, a ConfigMap or a secret); override the path if you like.
ENV PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml
# The health check calls this URL; change it when server.listen uses another port.
ENV PORTCULLIS_HEALTH_URL=http://127.0.0.1:4180/ping
# The official image's unprivileged user (uid 1000); the gateway needs no root and no writes.
USER node
EXPOSE 4180
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
