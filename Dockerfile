# Two stages: `build` compiles TypeScript with the dev dependencies; the runtime stage holds only
# production dependencies and dist/, and runs as the unprivileged `node` user.
# Build: docker build -t plaid-refresh-graphql .   Run: see docs/operations.md, "Container"; compose.yaml.
# Both stages on Node 24, an LTS line (maintained until April 2028); Node 20 is past its end of life.
# CI runs the tests on 20, 22, 24 and 26 (scripts/test-node-lines.sh), so the image's line is tested.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs scripts/build.mjs ./scripts/
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
# NODE_COMPILE_CACHE: V8's compiled code of dist/main.js is kept in the container's own /tmp, so a
# restarted container starts ~0.2 s sooner (keyed by the file's content; a new image starts afresh).
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    NODE_COMPILE_CACHE=/tmp/node-compile-cache \
    HOST=0.0.0.0 \
    PORT=4000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# GraphiQL's default document (only read when GRAPHIQL=true).
COPY operations/*.graphql ./operations/
# State that must outlive the container goes on a volume mounted here, which the process may write:
# the link spool (LINK_SPOOL_DIR), or a PGlite vault (VAULT_DATA_DIR) for a single replica.
RUN mkdir -p /var/lib/plaid-refresh && chown node:node /var/lib/plaid-refresh
# Root owns the code; the process can read it but not change it.
USER node
EXPOSE 4000
# Slim images have no curl: node's own fetch asks /health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# main.ts closes the listener, Plaid pool, vault and Redis on SIGTERM (docker stop) and exits 0.
CMD ["node", "dist/main.js"]
