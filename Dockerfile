# The reference controller image: docker build -t sandbox-controller:latest .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sandbox-controller

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/sandbox-controller /sandbox-controller
USER 65532:65532
ENTRYPOINT ["/sandbox-controller"]
