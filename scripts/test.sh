#!/usr/bin/env bash
# The test command: installs what the tests need when it is missing (scripts/install-test-deps.sh), then runs
# every module's tests with Maven. Extra arguments go to Maven (e.g. -pl worker -am, -Dtest=...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/install-test-deps.sh"
cd "$here"
exec mvn -B test "$@"
