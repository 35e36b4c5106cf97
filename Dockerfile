# Multi-stage build: a static, CGO-free binary (pure-Go SQLite) built with
# Go's FIPS 140-3 module, on a distroless non-root base.
#
# The base images are named by tag here, not yet by digest: a release
# build pins both by digest (FROM image:tag@sha256:...), read from the
# registry at release time, so that the image is rebuilt from the same
# bytes and a tag moved upstream changes nothing unnoticed. No digest is
# written here that was not read from the registry itself.
#
#   docker build --build-arg VERSION=$(git describe --tags) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t audit-sidecar .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The commit built: the context holds no .git, so Go cannot stamp it.
ARG REVISION=
RUN CGO_ENABLED=0 GOFIPS140=v1.0.0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/audit-sidecar ./cmd/audit-sidecar

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=
LABEL org.opencontainers.image.title="audit-sidecar" \
      org.opencontainers.image.description="A sidecar that turns an AI agent's event log into a redacted, HMAC-chained audit trail" \
      org.opencontainers.image.source="https://github.com/fips-agents/audit-sidecar" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/audit-sidecar /usr/local/bin/audit-sidecar
USER 65532:65532
ENV GODEBUG=fips140=on
ENTRYPOINT ["/usr/local/bin/audit-sidecar"]
CMD ["run", "--config", "/etc/audit-sidecar/config.yaml"]
