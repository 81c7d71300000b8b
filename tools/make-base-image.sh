#!/usr/bin/env bash
# Makes a base image for `cria image build --base tar:FILE` from Debian's packages, without any
# image from a hub: a minimal Debian bookworm root (debootstrap) with what the Kubeflow MPI
# Operator needs in a pod, Open MPI (mpirun) and an ssh server and client, written as a one-layer
# image tarball in `docker save` format (podman load, skopeo and Jib read it).
#
#   tools/make-base-image.sh OUT.tar [MIRROR]     (as root; needs debootstrap)
#
# Reproducible as far as Debian's packages are: file times are set to 0 and entries sorted.
set -euo pipefail

out=${1:?usage: tools/make-base-image.sh OUT.tar [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
suite=bookworm
tag=cria-base:$suite

if [[ $(id -u) != 0 ]]; then
  echo "make-base-image: needs root (debootstrap)" >&2
  exit 2
fi
command -v debootstrap >/dev/null || { echo "make-base-image: install debootstrap" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "make-base-image: debootstrap $suite from $mirror (Open MPI, OpenSSH) ..." >&2
debootstrap --variant=minbase --include=openmpi-bin,openssh-server,openssh-client \
  "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

# What a container does not need, and what sshd wants at start.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
  "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/run/sshd"
: >"$root/etc/machine-id"

mkdir -p "$work/image"
tar --numeric-owner --sort=name --mtime=@0 --xattrs -C "$root" -cf "$work/layer.tar" .
layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir -p "$work/image/$layer"
mv "$work/layer.tar" "$work/image/$layer/layer.tar"

cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/bash"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$layer"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"tools/make-base-image.sh: debootstrap $suite + openmpi-bin openssh-server openssh-client"}]}
JSON
config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/image/$config.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
  "$config" "$tag" "$layer" >"$work/image/manifest.json"

# named entries, not "./": image readers refuse entries that could point outside their folder
(cd "$work/image" && tar --numeric-owner --sort=name --mtime=@0 -cf "$out.partial" \
  manifest.json "$config.json" "$layer")
mv "$out.partial" "$out"
echo "make-base-image: $out ($tag, $(du -m "$out" | cut -f1) MB)" >&2
