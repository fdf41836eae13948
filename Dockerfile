# The quarry image: the launcher jar on a JRE 17, run as a non-root user. Build the jar first, then the image:
#   mvn -B -DskipTests package            # deploy/target/quarry.jar (CPU libtorch inside, from Maven Central)
#   docker build -t quarry:0.1.0 .        # or: podman build / buildah bud
# k8s/ runs it as `coordinator` and `worker`; `docker run --rm quarry:0.1.0 local --trainer stub` tries it.
# For GPU workers, build FROM an image that carries a CUDA 12.8 libtorch 2.7.1 and set PYTORCH_LIBRARY_PATH,
# PYTORCH_VERSION=2.7.1 and PYTORCH_FLAVOR=cu128 (README, "CPU and GPU"), e.g. --build-arg JRE_IMAGE=<your base>.
ARG JRE_IMAGE=eclipse-temurin:17-jre
FROM ${JRE_IMAGE}

RUN groupadd --system --gid 10001 quarry \
    && useradd --system --uid 10001 --gid quarry --home-dir /home/quarry --create-home --shell /usr/sbin/nologin quarry \
    && mkdir -p /runs /data \
    && chown quarry:quarry /runs /data

COPY deploy/target/quarry.jar /opt/quarry/quarry.jar
COPY deploy/src/main/docker/quarry /usr/local/bin/quarry

# DJL extracts libtorch under the user's home (~/.djl.ai) at the first DJL run; nothing is downloaded.
ENV HOME=/home/quarry \
    QUARRY_RUNS_DIR=/runs

USER 10001:10001
WORKDIR /home/quarry

# Artery (remoting), Pekko Management (management: /ready, /alive, cluster bootstrap), the HTTP API (http).
EXPOSE 2552 7626 8080

ENTRYPOINT ["/usr/local/bin/quarry"]
CMD ["--help"]
