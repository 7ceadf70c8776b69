# aiomsg-ts and its conformance agent, `aiomsg-ts agent` (the CLI contract every
# aiomsg implementation's agent follows):
#   docker run --rm --network host aiomsg-ts/agent --role bind --port 25000 --behavior sink --count 10
# Build from the repository root (the workspace is built inside). NODE_IMAGE: any
# Node >= 20 image with npm/npx (default the official node:20-slim). The optional
# build secret `ca` is a CA bundle npm and pnpm trust (TLS-intercepting proxies).
ARG NODE_IMAGE=node:20-slim
FROM ${NODE_IMAGE}
WORKDIR /app
# Dependencies first (manifests only), so that editing sources reuses this layer;
# only what the agent needs (the workspace root's tools, interop and aiomsg-ts).
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/core/package.json packages/core/
COPY interop/package.json interop/
COPY bench/package.json bench/
RUN --mount=type=secret,id=ca \
    set -e; \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npx -y pnpm@9.15.4 install --frozen-lockfile --filter . --filter "aiomsg-ts-interop..."; \
    rm -rf /root/.cache /root/.local/share/pnpm
COPY . .
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npx -y pnpm@9.15.4 --filter aiomsg-ts build && rm -rf /root/.npm/_logs
RUN ln -s /app/packages/core/bin/aiomsg-ts.js /usr/local/bin/aiomsg-ts
# `aiomsg-ts agent` (the package's CLI); `--entrypoint aiomsg-ts` reaches its other subcommands.
ENTRYPOINT ["aiomsg-ts", "agent"]
