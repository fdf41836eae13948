#!/usr/bin/env bash
# Installs the Debian packages Quarry's tests use, when they are missing; does nothing when all are there.
# Called by scripts/test.sh (the README's test command, which is all .ci/run runs). Needs root or sudo for apt-get.
#
#   openjdk-17-jdk-headless, maven   only where no java / mvn is on the PATH: the build itself
#   python3-torch         real PyTorch for the process trainer's example (examples/pytorch) and the benchmarks
#   libopenblas0-openmp   the BLAS that python3-torch is measured with in bench/ (OpenMP threads, as libtorch uses)
#   iproute2              `ip netns` and veth pairs: deploy's PartitionTest makes a second host out of a network
#                         namespace (and needs root for it)
#   kubernetes-client     kubectl, whose built-in kustomize renders k8s/ in K8sManifestsTest; only where no kubectl is
#                         on the PATH (any kubectl since 1.14 renders k8s/: it keeps to what kustomize 2.0 reads)
#   prometheus            a real Prometheus server scrapes a coordinator's /metrics in the tests; its promtool checks
#                         the text format (the Java client 1.x has no parser of it)
#   fontconfig, fonts-dejavu-core   a font for the text of the PNG plots (JFreeChart, headless)
#   chromium, chromium-driver   a real headless browser for the dashboard's tests (Selenium drives /usr/bin/chromedriver;
#                         nothing downloads a browser)
set -euo pipefail

packages=(python3-torch libopenblas0-openmp iproute2 prometheus fontconfig fonts-dejavu-core chromium chromium-driver)
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${missing[*]}, and this machine has no apt-get; install them (Debian names) and rerun" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-test-deps: missing ${missing[*]}; run as root (or install sudo) so that apt-get can install them" >&2
    exit 1
  fi
fi
echo "install-test-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
