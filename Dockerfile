# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wirekeeper ./cmd/wirekeeper

# Run: distroless static, non-root by default. `wirekeeper validate` and the
# mirror provider over tcp:/ssl: need nothing more. Plugging container ports
# needs root or CAP_NET_ADMIN + CAP_SYS_ADMIN (network namespaces) and the
# Docker and OVSDB sockets mounted: run with --user 0 and those capabilities.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wirekeeper /usr/local/bin/wirekeeper
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/wirekeeper"]
CMD ["--help"]
