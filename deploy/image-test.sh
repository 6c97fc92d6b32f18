#!/usr/bin/env bash
# The image, built from the real Dockerfile with podman and run as a user runs it.
#
#   deploy/image-test.sh            # or: make image-test
#
# Builds the `cpu` and `cpu-slim` targets (IMAGE_TARGETS to choose), runs each with the demo
# models mounted read-only at /models (converted ahead for cpu-slim, by the cpu image's
# fetch-models), and fails (exit 1) on the first check that does not hold:
#   - the serving processes run as the image's non-root user (uid 10001);
#   - /readyz answers 200 once the models are loaded; the time to get there is reported;
#   - the HEALTHCHECK passes (`podman healthcheck run`);
#   - /v1/translate answers an English-to-Arabic translation, LibreTranslate's /translate a
#     form-encoded request, /v1/summarize a summary; both images give the same answers;
#   - 64 requests, 16 at a time, all succeed;
#   - all of that on a read-only root filesystem with the documented tmpfs at /tmp, all
#     capabilities dropped and no new privileges (what deploy/deployment-cpu.yaml asks for);
#   - SIGTERM stops it with exit status 0 within the pods' terminationGracePeriodSeconds.
# It reports the build time, the image's size, the time to ready and the serving worker's
# resident memory idle and after a burst of requests.
#
# No image registry is needed: the base image is made here, once, with debootstrap from the
# Debian mirror apt uses, plus Debian's Python 3.11 (kept as BASE_IMAGE between runs; delete it
# to rebuild). pip inside the build gets this machine's CA bundle and local wheel directory
# (pip's `cert` and `find-links`, when set) through `podman build --volume`.
#
# KEEP_WORK=1 keeps the logs (debootstrap, builds) and the demo models in /tmp/image-test.*.
# Needs root, Debian's podman, runc and debootstrap, and a virtualenv with requirements.txt
# (VENV, default .venv) to build the demo models. podman runs with runc (crun refuses hybrid
# cgroups) and ulimits within the machine's, and builds in Docker format to keep the HEALTHCHECK.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
IMAGE_TARGETS=${IMAGE_TARGETS:-cpu cpu-slim}
BASE_IMAGE=${BASE_IMAGE:-localhost/newsroom-nlp-base:bookworm-python3.11}
PORT=${IMAGE_TEST_PORT:-18080}
# The pods' shutdown budget, the longest a stop may take.
STOP_LIMIT_S=$(awk '/terminationGracePeriodSeconds:/ {print $2; exit}' deploy/deployment-cpu.yaml)
# The tmpfs the README documents for a read-only root: /tmp holds the front's runtime directory,
# HF_HOME and the CTranslate2 conversions (2 GiB, like the pods' emptyDir).
TMPFS=/tmp:rw,size=2g,mode=1777
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
WORK=$(mktemp -d /tmp/image-test.XXXXXX)
CONTAINER=""

podman() { command podman --runtime runc "$@"; }
say() { printf 'image-test: %s\n' "$*"; }
fail() {
    say "FAIL: $*"
    if [ -n "$CONTAINER" ]; then podman logs --tail 40 "$CONTAINER" 2>&1 | sed 's/^/  | /' || true; fi
    exit 1
}
cleanup() {
    if [ -n "$CONTAINER" ]; then podman rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
    if [ -n "${KEEP_WORK:-}" ]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ----- the base image: Debian bookworm and its Python 3.11, made here ---------------------------

debian_mirror() {
    # The mirror apt fetches bookworm's main component from (either sources format).
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
        | awk '$2 == "bookworm" && $3 == "main" {print $1; exit}'
}

build_base() {
    local mirror rootfs
    mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    [ -n "$mirror" ] || fail "no bookworm mirror in apt's sources; set DEBIAN_MIRROR"
    rootfs=$WORK/rootfs
    say "making $BASE_IMAGE with debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
    # Like Debian's own images: no downloaded packages kept, now or after a later install.
    rm -f "$rootfs"/var/cache/apt/archives/*.deb
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
    tar -C "$rootfs" -c . | podman import --quiet - "$BASE_IMAGE-minbase" >/dev/null
    rm -rf "$rootfs"
    cat >"$WORK/Containerfile.base" <<EOF
FROM $BASE_IMAGE-minbase
RUN apt-get update \\
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python-is-python3 \\
        ca-certificates \\
    && rm -rf /var/lib/apt/lists/*
CMD ["python"]
EOF
    podman build "${ULIMITS[@]}" --format docker -t "$BASE_IMAGE" -f "$WORK/Containerfile.base" \
        "$WORK" >"$WORK/base-build.log" 2>&1 || { tail -20 "$WORK/base-build.log"; fail "base image"; }
    podman rmi "$BASE_IMAGE-minbase" >/dev/null 2>&1 || true
}

# ----- the build: pip gets this machine's CA bundle and wheels -----------------------------------

pip_volumes() {
    # Mounts for the build's RUN steps: a pip configuration naming this machine's CA bundle and
    # local wheel directory, and both of them. The bundle goes over the base image's own, so
    # nothing is left behind in the image but an empty /etc/pip.conf and /opt/host-wheels.
    local cert links
    cert=$(pip_setting cert)
    links=$(pip_setting find-links)
    {
        echo "[global]"
        if [ -n "$cert" ]; then echo "cert = /etc/ssl/certs/ca-certificates.crt"; fi
        if [ -n "$links" ]; then echo "find-links = /opt/host-wheels"; fi
    } >"$WORK/pip.conf"
    echo "--volume=$WORK/pip.conf:/etc/pip.conf:ro"
    if [ -n "$cert" ]; then echo "--volume=$cert:/etc/ssl/certs/ca-certificates.crt:ro"; fi
    if [ -n "$links" ]; then echo "--volume=$links:/opt/host-wheels:ro"; fi
}

pip_setting() {
    # The value of one of pip's settings here (global or environment), empty when unset.
    "$VENV/bin/pip" config list 2>/dev/null \
        | awk -F= -v key="$1" '$1 ~ ("[.]" key "$") {gsub(/\x27/, "", $2); print $2; exit}'
}

build_image() {
    local target=$1 tag=$2 start end volumes
    mapfile -t volumes < <(pip_volumes)
    say "building target $target as $tag"
    start=$(date +%s)
    podman build "${ULIMITS[@]}" --format docker --target "$target" -t "$tag" \
        --build-arg PYTHON_IMAGE="$BASE_IMAGE" \
        --build-arg TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://pypi.org/simple}" \
        "${volumes[@]}" . >"$WORK/build-$target.log" 2>&1 \
        || { tail -40 "$WORK/build-$target.log"; fail "podman build --target $target"; }
    end=$(date +%s)
    BUILD_S=$((end - start))
}

# ----- running it ----------------------------------------------------------------------------------

http() {
    # curl against the container's published port; prints the body, fails on a non-2xx answer.
    curl --silent --show-error --fail-with-body --max-time 60 "$@"
}

json_check() {
    # Evaluate a Python expression over the JSON on stdin (as `body`); fail unless it is true.
    python3 -c '
import json, sys
body = json.load(sys.stdin)
if not eval(sys.argv[1]):
    sys.exit(f"expected {sys.argv[1]}, got {body!r}")
' "$1"
}

worker_rss_mib() {
    # Resident and peak memory (MiB) of the gunicorn worker, the process that holds the models.
    podman exec "$CONTAINER" python -c '
from pathlib import Path
procs = {}
for d in Path("/proc").iterdir():
    if d.name.isdigit():
        status = dict(l.split(":", 1) for l in (d / "status").read_text().splitlines() if ":" in l)
        cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        procs[d.name] = (status, cmd)
for pid, (status, cmd) in procs.items():
    parent = procs.get(status["PPid"].strip())
    if "gunicorn" in cmd and parent and "gunicorn" in parent[1]:
        kib = lambda key: int(status[key].split()[0]) // 1024
        print(kib("VmRSS"), kib("VmHWM"))
'
}

load_burst() {
    # 64 requests, 16 at a time: translations and summaries of the seed brief.
    seq 64 | xargs -P 16 -I{} sh -c '
        if [ $(({} % 2)) -eq 0 ]; then
            curl -sf --max-time 120 -H "Content-Type: application/json" \
                -d "{\"text\": \"Request {}: the council met on Tuesday to vote on the budget.\", \"target\": \"ar\"}" \
                http://127.0.0.1:'"$PORT"'/v1/translate >/dev/null
        else
            curl -sf --max-time 120 -H "Content-Type: application/json" \
                -d @'"$WORK"'/summarize.json http://127.0.0.1:'"$PORT"'/v1/summarize >/dev/null
        fi' || fail "a request of the load burst failed"
}

check_image() {
    local target=$1 tag=$2 models=$3 start ready_s uid user status stop_s rss size
    size=$(podman image inspect --format '{{.Size}}' "$tag")
    user=$(podman image inspect --format '{{.Config.User}}' "$tag")
    case ${user%%:*} in
        "" | 0 | root) fail "the image runs as root (USER is '${user}')" ;;
    esac
    CONTAINER=newsroom-image-test-$target-$$
    say "running $tag (read-only root, tmpfs $TMPFS, demo models at /models)"
    start=$(date +%s.%N)
    podman run -d --name "$CONTAINER" "${ULIMITS[@]}" \
        --read-only --tmpfs "$TMPFS" --cap-drop ALL --security-opt no-new-privileges \
        -v "$models:/models:ro" -p "127.0.0.1:$PORT:8000" "$tag" >/dev/null 2>"$WORK/run.err" \
        || { cat "$WORK/run.err"; fail "podman run"; }

    for _ in $(seq 600); do
        if curl -sf --max-time 2 "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
        [ "$(podman inspect --format '{{.State.Running}}' "$CONTAINER")" = true ] \
            || fail "the container stopped before it was ready"
        sleep 0.5
    done
    http "http://127.0.0.1:$PORT/readyz" >/dev/null || fail "/readyz never answered 200"
    ready_s=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    say "ready in ${ready_s} s"

    uid=$(podman exec "$CONTAINER" python -c 'import os; print(os.getuid())')
    [ "$uid" -ne 0 ] || fail "the image runs as root"
    # Every process, nginx's and gunicorn's included, runs as that user.
    podman top "$CONTAINER" user args | awk 'NR > 1 && $1 != "'"$uid"'" && $1 != "app" {print; bad=1}
        END {exit bad}' || fail "a process in the container runs as another user"
    say "runs as uid $uid"

    podman healthcheck run "$CONTAINER" >/dev/null 2>"$WORK/healthcheck.err" \
        || { cat "$WORK/healthcheck.err"; fail "the HEALTHCHECK failed"; }
    status=$(podman inspect --format '{{.State.Health.Status}}' "$CONTAINER")
    [ "$status" = healthy ] || fail "health status is $status after the check ran"
    say "HEALTHCHECK: $status"

    http -H 'Content-Type: application/json' -d '{"text": "Hello, world.", "target": "ar"}' \
        "http://127.0.0.1:$PORT/v1/translate" >"$WORK/translate-$target.json" \
        || fail "/v1/translate"
    json_check 'body["model"] == "en-ar" and body["target"] == "ar" and body["translation"]' \
        <"$WORK/translate-$target.json" || fail "/v1/translate answered wrong"
    http --data-urlencode 'q=Hello, world.' -d source=en -d target=ar \
        "http://127.0.0.1:$PORT/translate" >"$WORK/libretranslate-$target.json" \
        || fail "LibreTranslate /translate"
    json_check 'isinstance(body["translatedText"], str) and body["translatedText"]' \
        <"$WORK/libretranslate-$target.json" || fail "LibreTranslate /translate answered wrong"
    http -H 'Content-Type: application/json' -d @"$WORK/summarize.json" \
        "http://127.0.0.1:$PORT/v1/summarize" >"$WORK/summarize-$target.json" \
        || fail "/v1/summarize"
    json_check 'body["chunks"] == [1] and isinstance(body["summary"], str)' \
        <"$WORK/summarize-$target.json" || fail "/v1/summarize answered wrong"
    say "translated en->ar over /v1/translate and LibreTranslate's /translate; summarised"

    rss=$(worker_rss_mib) || fail "could not read the worker's memory"
    RSS_IDLE=${rss%% *}
    load_burst
    rss=$(worker_rss_mib)
    RSS_LOADED=${rss%% *}
    RSS_PEAK=${rss##* }
    say "worker RSS: ${RSS_IDLE} MiB idle, ${RSS_LOADED} MiB after 64 requests (peak ${RSS_PEAK} MiB)"

    start=$(date +%s.%N)
    podman kill --signal TERM "$CONTAINER" >/dev/null 2>&1
    status=$(timeout "$STOP_LIMIT_S" podman wait "$CONTAINER") \
        || fail "still running ${STOP_LIMIT_S} s after SIGTERM"
    stop_s=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    [ "$status" = 0 ] || fail "exit status $status after SIGTERM"
    say "SIGTERM: exit 0 in ${stop_s} s"
    podman rm "$CONTAINER" >/dev/null 2>&1
    CONTAINER=""

    SUMMARY+=("$(printf '%-9s build %4s s  size %5s MB  ready %5s s  stop %4s s  RSS idle %4s MiB, loaded %4s MiB (peak %s)' \
        "$target" "$BUILD_S" "$((size / 1000000))" "$ready_s" "$stop_s" "$RSS_IDLE" "$RSS_LOADED" "$RSS_PEAK")")
}

convert_ahead() {
    # cpu-slim has no PyTorch to convert with: the cpu image converts the models into
    # /models/ctranslate2 (its CT2_CACHE_DIR), as its user, as the README tells users to.
    local models=$1 cpu=localhost/newsroom-nlp:cpu-test
    podman image exists "$cpu" || build_image cpu "$cpu"
    install -d -o 10001 -g 10001 "$models/ctranslate2"
    say "converting the demo models for CTranslate2 ahead, with the cpu image"
    podman run --rm "${ULIMITS[@]}" -v "$models:/models" -e CT2_CACHE_DIR=/models/ctranslate2 \
        "$cpu" python -m service fetch-models --dest /models >"$WORK/convert.log" 2>&1 \
        || { tail -20 "$WORK/convert.log"; fail "fetch-models in the cpu image"; }
}

same_answers() {
    # Every image answers the same requests alike (CTranslate2 int8 from the same weights).
    local first=$1 target kind
    shift
    for target in "$@"; do
        for kind in translate libretranslate summarize; do
            cmp -s "$WORK/$kind-$first.json" "$WORK/$kind-$target.json" \
                || fail "$target answers $kind differently from $first: $(cat "$WORK/$kind-$target.json")"
        done
        say "$target gives the same answers as $first"
    done
}

# ----- main ----------------------------------------------------------------------------------------

for tool in podman runc debootstrap curl; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] \
        || fail "$tool is missing (Debian: apt-get install podman runc debootstrap curl)"
done
[ -x "$VENV/bin/python" ] || fail "no virtualenv at $VENV (make install, or set VENV)"

if podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE is here already"
else
    build_base
fi

MODELS=$WORK/models
say "building the demo models"
"$VENV/bin/python" -m service demo-models "$MODELS" >"$WORK/demo-models.log" 2>&1 \
    || { cat "$WORK/demo-models.log"; fail "demo-models"; }
chmod -R a+rX "$MODELS"

python3 -c 'import json, sys; print(json.dumps({"text": open(sys.argv[1]).read()}))' \
    seeds/short-brief.txt >"$WORK/summarize.json"

SUMMARY=()
for target in $IMAGE_TARGETS; do
    tag=localhost/newsroom-nlp:$target-test
    if [ "$target" = cpu-slim ]; then convert_ahead "$MODELS"; fi
    build_image "$target" "$tag"
    check_image "$target" "$tag" "$MODELS"
done
same_answers $IMAGE_TARGETS
# Untagged images (the layers of earlier builds) go after a week, so the store stays bounded but
# keeps this week's cache.
podman image prune --force --filter until=168h >/dev/null

say "all checks passed"
printf '  %s\n' "${SUMMARY[@]}"
