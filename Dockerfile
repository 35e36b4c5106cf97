# Multi-stage build: a static, CGO-free binary (pure-Go SQLite) built with
# Go's FIPS 140-3 module, on a distroless non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOFIPS140=v1.0.0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/audit-sidecar ./cmd/audit-sidecar

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/audit-sidecar /usr/local/bin/audit-sidecar
USER 65532:65532
ENV GODEBUG=fips140=on
ENTRYPOINT ["/usr/local/bin/audit-sidecar"]
CMD ["run", "--config", "/etc/audit-sidecar/config.yaml"]
