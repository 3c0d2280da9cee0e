#!/usr/bin/env bash
# bench/image.sh — hs-image's targets (issue 9), measured with hyperfine
# through bench/lib.sh's bench_group:
#   import: `hs-image import` of a ~200 MB rootfs tarball (host /etc,
#           /usr/include, /usr/lib/python3.*, /usr/sbin) into an empty store,
#           next to `tar -x` of the same file (target: <= 1.3x), plain and
#           gzip'd (tar -xz runs gzip beside tar; hs-image reads, inflates
#           and hashes on a second thread);
#   pull:   `hs-image pull` of that tarball as a one-layer gzip image from a
#           docker-registry on 127.0.0.1, next to `skopeo copy` of the same
#           image to a dir (target: <= 1.0x). Both download and verify; the
#           layer stays packed until its first use. A second group times
#           the extraction too: `hs-image pull --unpack`, and a pull then
#           its first use (`lowerdirs`), next to skopeo copy + tar -xzf.
# Standalone: `bench/image.sh` (builds release hs-image if needed).
# Env: HS_BENCH_BIN, HS_BENCH_TMP, HS_BENCH_LIB (set by bench/run),
# IMAGE_BENCH_RUNS (5: each run moves 200 MB).
# Prints markdown on stdout, progress on stderr; removes what it creates.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "${HS_BENCH_LIB:-$here/lib.sh}"
BENCH_RUNS=${IMAGE_BENCH_RUNS:-5}
# A row takes 8-10 s here: the default 10 s smoke run failed tar -xzf once.
BENCH_SMOKE_SECS=${BENCH_SMOKE_SECS:-120}
BENCH_WARMUP=1

bin=${HS_BENCH_BIN:-$here/../target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
if [[ ! -x $bin/hs-image ]]; then
	bench_log "building release hs-image"
	(cd "$here/.." && cargo build --release -p hs-image >&2)
	bin=$here/../target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release
fi
image=$bin/hs-image

# A disk, not a tmpfs: extraction must cost what it costs.
BENCH_TMP=$(mktemp -d "${HS_BENCH_TMP:-/var/tmp}/hs-bench-image.XXXXXX")
export BENCH_TMP
BENCH_RESULTS_TSV=${BENCH_RESULTS_TSV:-$BENCH_TMP/results.tsv}
registry_pid=
cleanup() {
	if [[ -n $registry_pid ]]; then
		kill "$registry_pid" 2>/dev/null || true
		wait "$registry_pid" 2>/dev/null || true
	fi
	# Under bench/run the bulk goes to its graveyard: deleting it here
	# would slow the file creation of whatever runs next (bench_aside).
	if [[ -n ${HS_BENCH_TMP:-} ]]; then
		bench_aside "$BENCH_TMP"
	else
		rm -rf "$BENCH_TMP"
	fi
}
trap cleanup EXIT

t=$BENCH_TMP
bench_log "making the rootfs tarball"
dirs=(etc usr/include usr/sbin)
for d in /usr/lib/python3.*; do
	[[ -d $d ]] && dirs+=("${d#/}")
done
tar -C / -cf "$t/rootfs.tar" "${dirs[@]}" 2>/dev/null || true
gzip -1 -c "$t/rootfs.tar" >"$t/rootfs.tar.gz"
size_mb=$(($(stat -c %s "$t/rootfs.tar") / 1048576))
files=$(tar -tf "$t/rootfs.tar" | wc -l)

# Each run starts from an empty store / target and no dirty pages of the
# previous run still being written back; the previous run's files are set
# aside, not deleted (bench_aside).
fresh=$(bench_fresh_dirs_cmd "$t/hsroot" "$t/x")
bench_group image-import "import of a ${size_mb} MB rootfs tarball (${files} entries) into an empty store" \
	"hs|hs-image import rootfs.tar|env HS_ROOT=$t/hsroot $image import $t/rootfs.tar|$fresh" \
	"floor|tar -xf rootfs.tar|tar -xf $t/rootfs.tar -C $t/x|$fresh" \
	"hs|hs-image import rootfs.tar.gz|env HS_ROOT=$t/hsroot $image import $t/rootfs.tar.gz|$fresh" \
	"floor|tar -xzf rootfs.tar.gz|tar -xzf $t/rootfs.tar.gz -C $t/x|$fresh"

# The same tarball as a one-layer OCI image, pushed to a loopback registry.
bench_log "starting a registry"
layout=$t/layout
mkdir -p "$layout/blobs/sha256"
blob() { # FILE → prints digest, stores the blob
	local hex
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$layout/blobs/sha256/$hex"
	echo "sha256:$hex"
}
diff_id=sha256:$(sha256sum "$t/rootfs.tar" | cut -d' ' -f1)
layer=$(blob "$t/rootfs.tar.gz")
layer_size=$(stat -c %s "$t/rootfs.tar.gz")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$diff_id" >"$t/config.json"
config=$(blob "$t/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
	"$config" "$(stat -c %s "$t/config.json")" "$layer" "$layer_size" >"$t/manifest.json"
manifest=$(blob "$t/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
	"$manifest" "$(stat -c %s "$t/manifest.json")" >"$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

port=$((20000 + RANDOM % 20000))
cat >"$t/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $t/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$t/registry.yml" >"$t/registry.log" 2>&1 &
registry_pid=$!
bench_wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:v1" "docker://127.0.0.1:$port/bench/rootfs:v1" >&2
ref=127.0.0.1:$port/bench/rootfs:v1

# The same work in both groups' rows: download (and verify) only, then
# download and unpack the layer.
pulled="env HS_ROOT=$t/hsroot $image pull --insecure $ref"
fetch_unpack="skopeo copy --quiet --src-tls-verify=false docker://$ref dir:$t/skopeo && mkdir -p $t/x && tar -xzf $t/skopeo/${layer#sha256:} -C $t/x"
bench_group image-pull "pull of the ${size_mb} MB rootfs as a one-layer gzip image from a loopback registry (download and verify)" \
	"hs|hs-image pull|$pulled|$(bench_fresh_dirs_cmd "$t/hsroot")" \
	"peer|skopeo copy to dir|skopeo copy --quiet --src-tls-verify=false docker://$ref dir:$t/skopeo|$(bench_fresh_dirs_cmd "$t/skopeo")"
bench_group image-pull-unpack "the same pull with the layer unpacked" \
	"hs|hs-image pull --unpack|$pulled --unpack|$(bench_fresh_dirs_cmd "$t/hsroot")" \
	"hs|sh -c 'hs-image pull && hs-image lowerdirs' (first use)|sh -c '$pulled >/dev/null && HS_ROOT=$t/hsroot $image lowerdirs $ref'|$(bench_fresh_dirs_cmd "$t/hsroot")" \
	"peer|sh -c 'skopeo copy to dir && tar -xzf layer'|sh -c '$fetch_unpack'|$(bench_fresh_dirs_cmd "$t/skopeo" "$t/x")"

bench_emit ""
bench_emit "| target | limit | ratio | |"
bench_emit "| --- | --- | ---: | --- |"
bench_target "$BENCH_RUN_NO" "hs-image import / tar -x" "hs-image import rootfs.tar" "tar -xf rootfs.tar" "<=" 1.3
bench_target "$BENCH_RUN_NO" "hs-image import (gz) / tar -xz" "hs-image import rootfs.tar.gz" "tar -xzf rootfs.tar.gz" "<=" 1.3
bench_target "$BENCH_RUN_NO" "hs-image pull / skopeo copy" "hs-image pull" "skopeo copy to dir" "<=" 1.0
bench_target "$BENCH_RUN_NO" "hs-image pull --unpack / (skopeo copy + tar -xz)" "hs-image pull --unpack" "sh -c 'skopeo copy to dir && tar -xzf layer'" "<=" 1.0
bench_target "$BENCH_RUN_NO" "hs-image pull + first use / (skopeo copy + tar -xz)" "sh -c 'hs-image pull && hs-image lowerdirs' (first use)" "sh -c 'skopeo copy to dir && tar -xzf layer'" "<=" 1.0
