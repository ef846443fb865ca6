#!/usr/bin/env python3
"""Vigil's container image, built without a container daemon and byte for byte reproducibly.

`make image` runs this (see the Makefile); the result is an OCI image layout (`dist/image/`, and the same as
one tar, `dist/vigil-image.tar`) whose manifest digest `config/manager/kustomization.yaml` pins.

What the image holds, as distroless `cc-debian12` does (the base of the former Dockerfile):
  - layer 1, the base: the Debian bookworm packages locked in `image/debian.lock` (glibc, libgcc, CA
    certificates, base-files, netbase) unpacked from their `.deb` files, without docs except copyright
    files, man pages or lintian data; `/etc/passwd` and `/etc/group` with root and `nonroot` (65532); one
    `/var/lib/dpkg/status.d/<package>` per package, so image scanners (trivy, grype) know what is inside;
    `/etc/ssl/certs/ca-certificates.crt` concatenated from the certificates as `update-ca-certificates`
    would. No shell, no package manager.
  - layer 2: `/vigil`, the stripped binary of `make release`.
  - config: user 65532:65532, entrypoint `/vigil`, no timestamps (the epoch), no build host.

Why it is reproducible: every tar entry is written in path order with owner, mode and mtime fixed, gzip
runs with a fixed level and no name or time, and JSON is written with sorted keys. The same binary and the
same `.deb` files (their sha256 is in the lock) give the same digest on any machine; `make release` remaps
the build paths so the binary is the same from any checkout.

Commands (stdlib only; `dpkg-deb` and `apt-get download` for the packages):
  lock   --lock FILE                         re-lock the packages at the versions apt offers now
  fetch  --lock FILE --debs DIR              download the locked packages, checking their sha256
  build  --lock FILE --debs DIR --binary FILE --out DIR --tar FILE --tag TAG [--print-digest]
  verify --image DIR [--no-run]              check the layout's digests, unpack it and run `/vigil --version`
                                             in it as user 65532 (chroot; needs root, else only the digests)
  list   --image DIR                         print the manifest digest, the config and every layer entry as JSON
  pin    --image DIR --kustomization FILE [--check]
                                             write the image's tag and manifest digest into the kustomization's
                                             `images:` entry for IMAGE_NAME (--check: only compare, exit 1 if
                                             they differ)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The packages of the base layer (what distroless cc-debian12 holds, less tzdata: Vigil logs in UTC and never
# reads a zone database).
PACKAGES = ["base-files", "netbase", "ca-certificates", "libc6", "libgcc-s1"]
NONROOT = 65532
IMAGE_NAME = "ghcr.io/vigil-dev/vigil"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# Paths of a package that a runtime image does not need (distroless drops the same).
DROPPED_PREFIXES = ("usr/share/man/", "usr/share/lintian/", "usr/share/info/", "usr/share/locale/")


class ImageError(Exception):
    """A clear, one-line reason the image cannot be built or verified."""


@dataclass(frozen=True)
class Locked:
    package: str
    version: str
    architecture: str
    sha256: str


def read_lock(path: Path) -> list[Locked]:
    locked = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 4 or len(fields[3]) != 64:
            raise ImageError(f"{path}:{number}: expected `package version architecture sha256`, got `{line}`")
        locked.append(Locked(*fields))
    return locked


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def deb_path(debs: Path, item: Locked) -> Path:
    # apt-get download writes an epoch's colon as %3a.
    return debs / f"{item.package}_{item.version.replace(':', '%3a')}_{item.architecture}.deb"


def apt_download(spec: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    before = set(into.glob("*.deb"))
    result = subprocess.run(["apt-get", "download", spec], cwd=into, capture_output=True, text=True)
    if result.returncode != 0:
        raise ImageError(f"apt-get download {spec} failed: {result.stderr.strip()}")
    new = sorted(set(into.glob("*.deb")) - before)
    if len(new) != 1:
        raise ImageError(f"apt-get download {spec} wrote {len(new)} files in {into}")
    return new[0]


def command_lock(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lines = [
            "# The Debian bookworm packages of Vigil's image (image/build.py): package version architecture sha256.",
            "# Re-lock (after a Debian security update) with `python3 image/build.py lock --lock image/debian.lock`,",
            "# then `make image` and pin the new digest.",
        ]
        for package in PACKAGES:
            deb = apt_download(package, Path(tmp))
            fields = deb_fields(deb)
            lines.append(f"{package} {fields['Version']} {fields['Architecture']} {sha256_file(deb)}")
    Path(args.lock).write_text("\n".join(lines) + "\n")
    print(f"locked {len(PACKAGES)} packages in {args.lock}")


def command_fetch(args) -> None:
    debs = Path(args.debs)
    for item in read_lock(Path(args.lock)):
        path = deb_path(debs, item)
        if not path.is_file():
            apt_download(f"{item.package}={item.version}", debs)
        if not path.is_file():
            raise ImageError(f"apt-get download {item.package}={item.version} did not write {path}")
        got = sha256_file(path)
        if got != item.sha256:
            raise ImageError(f"{path.name}: sha256 {got}, the lock says {item.sha256}")
    print(f"{debs}: every locked package present, sha256 checked")


def deb_fields(deb: Path) -> dict[str, str]:
    fields, key = {}, None
    for line in deb_control_text(deb).splitlines():
        if line.startswith((" ", "\t")) and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def deb_control_text(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout


# --- deterministic tar layers -------------------------------------------------------------------------------


@dataclass
class Entry:
    """One file system entry of a layer; `data` for files, `target` for links."""

    path: str  # relative, no leading "./" or "/"; directories without a trailing "/"
    kind: bytes  # tarfile.DIRTYPE, REGTYPE, SYMTYPE or LNKTYPE
    mode: int
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""


class Layer:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        # Parents first, as directories root-owned 0755 unless a package says otherwise.
        parts = entry.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            self.entries.setdefault(parent, Entry(parent, tarfile.DIRTYPE, 0o755))
        existing = self.entries.get(entry.path)
        if existing is not None and existing.kind == tarfile.DIRTYPE and entry.kind == tarfile.DIRTYPE:
            # A directory several packages ship: the first explicit one wins, an implied parent yields.
            return
        self.entries[entry.path] = entry

    def tar_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                entry = self.entries[path]
                info = tarfile.TarInfo(path + ("/" if entry.kind == tarfile.DIRTYPE else ""))
                info.type = entry.kind
                info.mode = entry.mode
                info.uid, info.gid = entry.uid, entry.gid
                info.uname = info.gname = ""
                info.mtime = 0
                if entry.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = entry.target
                if entry.kind == tarfile.REGTYPE:
                    info.size = len(entry.data)
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    tar.addfile(info)
        return buffer.getvalue()


def normalise(name: str) -> str:
    """A tar member's name as a layer path: `./usr/lib/` -> `usr/lib`."""
    if name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    return "" if name == "." else name


def keep_doc(path: str) -> bool:
    parts = path.split("/")
    return len(parts) <= 4 and (len(parts) < 4 or parts[3] == "copyright")


def add_deb(layer: Layer, deb: Path) -> None:
    fsys = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(fsys), mode="r:") as tar:
        for member in tar:
            path = normalise(member.name)
            if not path:
                continue
            if path.startswith(DROPPED_PREFIXES):
                continue
            if path.startswith("usr/share/doc/") and not keep_doc(path):
                continue
            mode = member.mode & 0o7777
            if member.isdir():
                layer.add(Entry(path, tarfile.DIRTYPE, mode, member.uid, member.gid))
            elif member.issym():
                layer.add(Entry(path, tarfile.SYMTYPE, 0o777, member.uid, member.gid, target=member.linkname))
            elif member.islnk():
                layer.add(Entry(path, tarfile.LNKTYPE, mode, member.uid, member.gid, target=normalise(member.linkname)))
            elif member.isfile():
                data = tar.extractfile(member).read()
                layer.add(Entry(path, tarfile.REGTYPE, mode, member.uid, member.gid, data=data))
            else:
                raise ImageError(f"{deb.name}: {member.name} is neither file, directory nor link")


def passwd_files(layer: Layer) -> None:
    passwd = f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    group = f"root:x:0:\nnonroot:x:{NONROOT}:\n"
    layer.add(Entry("etc/passwd", tarfile.REGTYPE, 0o644, data=passwd.encode()))
    layer.add(Entry("etc/group", tarfile.REGTYPE, 0o644, data=group.encode()))
    layer.add(Entry("home/nonroot", tarfile.DIRTYPE, 0o700, NONROOT, NONROOT))
    layer.add(Entry("tmp", tarfile.DIRTYPE, 0o1777))


def ca_bundle(layer: Layer) -> None:
    # What update-ca-certificates writes: every certificate of /usr/share/ca-certificates, in path order
    # (the order of /etc/ca-certificates.conf), each ending in a newline.
    certs = sorted(p for p, e in layer.entries.items() if p.startswith("usr/share/ca-certificates/") and p.endswith(".crt") and e.kind == tarfile.REGTYPE)
    if not certs:
        return
    bundle = b"".join(layer.entries[p].data if layer.entries[p].data.endswith(b"\n") else layer.entries[p].data + b"\n" for p in certs)
    layer.add(Entry("etc/ssl/certs/ca-certificates.crt", tarfile.REGTYPE, 0o644, data=bundle))


def base_layer(locked: list[Locked], debs: Path) -> Layer:
    layer = Layer()
    for item in locked:
        deb = deb_path(debs, item)
        if not deb.is_file():
            raise ImageError(f"{deb} is missing: run `python3 image/build.py fetch` (make image does)")
        got = sha256_file(deb)
        if got != item.sha256:
            raise ImageError(f"{deb.name}: sha256 {got}, the lock says {item.sha256}")
        add_deb(layer, deb)
        # As dpkg's status database has it (trivy and grype read distroless's status.d the same way).
        control = deb_control_text(deb).splitlines(keepends=True)
        status = "".join(control[:1] + ["Status: install ok installed\n"] + control[1:])
        layer.add(Entry(f"var/lib/dpkg/status.d/{item.package}", tarfile.REGTYPE, 0o644, data=status.encode()))
    passwd_files(layer)
    ca_bundle(layer)
    # A hard link whose target was dropped (docs, man pages) would not unpack.
    dangling = [p for p, e in layer.entries.items() if e.kind == tarfile.LNKTYPE and e.target not in layer.entries]
    if dangling:
        raise ImageError(f"hard links to dropped files: {', '.join(sorted(dangling))}")
    return layer


def app_layer(binary: Path) -> Layer:
    layer = Layer()
    layer.add(Entry("vigil", tarfile.REGTYPE, 0o755, data=binary.read_bytes()))
    return layer


# --- the OCI layout -----------------------------------------------------------------------------------------


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as f:
        f.write(data)
    return buffer.getvalue()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_blob(out: Path, data: bytes) -> str:
    digest = digest_of(data)
    path = out / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def command_build(args) -> None:
    locked = read_lock(Path(args.lock))
    layers = [("base: " + ", ".join(f"{l.package} {l.version}" for l in locked), base_layer(locked, Path(args.debs))), ("vigil", app_layer(Path(args.binary)))]
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    descriptors, diff_ids, history = [], [], []
    for comment, layer in layers:
        tar = layer.tar_bytes()
        compressed = gzip_bytes(tar)
        diff_ids.append(digest_of(tar))
        descriptors.append({"mediaType": MEDIA_LAYER, "digest": write_blob(out, compressed), "size": len(compressed)})
        history.append({"created": "1970-01-01T00:00:00Z", "created_by": "image/build.py", "comment": comment})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": f"{NONROOT}:{NONROOT}",
            "Entrypoint": ["/vigil"],
            "WorkingDir": "/home/nonroot",
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            ],
            "Labels": {
                "org.opencontainers.image.title": "vigil",
                "org.opencontainers.image.version": args.tag,
                "org.opencontainers.image.source": "https://github.com/vigil-dev/vigil",
                "org.opencontainers.image.licenses": "Apache-2.0",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    config_bytes = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": write_blob(out, config_bytes), "size": len(config_bytes)},
        "layers": descriptors,
    }
    manifest_bytes = canonical_json(manifest)
    manifest_digest = write_blob(out, manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": args.tag},
            }
        ],
    }
    (out / "index.json").write_bytes(canonical_json(index))
    (out / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    if args.tar:
        write_layout_tar(out, Path(args.tar))
    if args.print_digest:
        print(manifest_digest)
    else:
        print(f"{out}: manifest {manifest_digest} ({len(locked)} packages, {sum(d['size'] for d in descriptors)} bytes of layers)")


def write_layout_tar(layout: Path, tar_path: Path) -> None:
    # `docker load -i`, `podman load -i` and `skopeo copy oci-archive:` read an OCI layout as one tar.
    layer = Layer()
    for path in sorted(layout.rglob("*")):
        relative = path.relative_to(layout).as_posix()
        if path.is_dir():
            layer.add(Entry(relative, tarfile.DIRTYPE, 0o755))
        else:
            layer.add(Entry(relative, tarfile.REGTYPE, 0o644, data=path.read_bytes()))
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    tar_path.write_bytes(layer.tar_bytes())


# --- verify -------------------------------------------------------------------------------------------------


def read_blob(layout: Path, digest: str) -> bytes:
    algorithm, hexdigest = digest.split(":", 1)
    data = (layout / "blobs" / algorithm / hexdigest).read_bytes()
    if digest_of(data) != digest:
        raise ImageError(f"blob {digest} does not have that digest")
    return data


def read_layout(layout: Path) -> tuple[str, dict, list[bytes]]:
    """The manifest digest, the config and each layer's tar, every digest checked on the way."""
    index = json.loads((layout / "index.json").read_text())
    if len(index["manifests"]) != 1:
        raise ImageError(f"{layout}/index.json names {len(index['manifests'])} manifests, not one")
    (descriptor,) = index["manifests"]
    manifest = json.loads(read_blob(layout, descriptor["digest"]))
    config = json.loads(read_blob(layout, manifest["config"]["digest"]))
    if len(manifest["layers"]) != len(config["rootfs"]["diff_ids"]):
        raise ImageError("the manifest's layers and the config's diff_ids differ in number")
    tars = []
    for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
        tar = gzip.decompress(read_blob(layout, layer["digest"]))
        if digest_of(tar) != diff_id:
            raise ImageError(f"layer {layer['digest']} does not decompress to {diff_id}")
        tars.append(tar)
    return descriptor["digest"], config, tars


def command_list(args) -> None:
    digest, config, tars = read_layout(Path(args.image))
    layers = []
    for tar in tars:
        entries = []
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            for member in t:
                data = t.extractfile(member).read() if member.isfile() else b""
                kind = "dir" if member.isdir() else "symlink" if member.issym() else "hardlink" if member.islnk() else "file"
                entries.append({"path": member.name, "type": kind, "mode": member.mode, "uid": member.uid, "gid": member.gid, "mtime": member.mtime, "size": member.size, "sha256": hashlib.sha256(data).hexdigest() if member.isfile() else None, "link": member.linkname or None})
        layers.append({"diffId": digest_of(tar), "entries": entries})
    print(json.dumps({"digest": digest, "config": config, "layers": layers}, indent=1, sort_keys=True))


def command_verify(args) -> None:
    layout = Path(args.image)
    digest, config, tars = read_layout(layout)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        for tar in tars:
            with tarfile.open(fileobj=io.BytesIO(tar)) as t:
                t.extractall(root, filter="fully_trusted")
        print(f"{layout}: {digest}: every blob and diff_id checked")
        if args.no_run:
            return
        if os.geteuid() != 0:
            print("not root: /vigil was not run in the image (chroot needs root)")
            return
        user = config["config"]["User"]
        entrypoint = config["config"]["Entrypoint"]
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        run = subprocess.run([chroot, f"--userspec={user}", str(root), *entrypoint, "--version"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        if run.returncode != 0:
            raise ImageError(f"{' '.join(entrypoint)} --version in the image as {user} failed: {run.stderr.strip()}")
        print(f"in the image as {user}: {run.stdout.strip()}")


# --- pin ----------------------------------------------------------------------------------------------------


def image_entry(lines: list[str]) -> tuple[int, int]:
    """The line range of the kustomization's `images:` entry `- name: IMAGE_NAME` (its key lines included)."""
    for start, line in enumerate(lines):
        if line.strip() == f"- name: {IMAGE_NAME}":
            end = start + 1
            while end < len(lines) and lines[end].startswith("  ") and not lines[end].lstrip().startswith("-"):
                end += 1
            return start, end
    raise ImageError(f"no `images:` entry `- name: {IMAGE_NAME}`")


def command_pin(args) -> None:
    layout = Path(args.image)
    (descriptor,) = json.loads((layout / "index.json").read_text())["manifests"]
    tag = descriptor["annotations"]["org.opencontainers.image.ref.name"]
    wanted = [f"- name: {IMAGE_NAME}", f"  newTag: {tag}", f"  digest: {descriptor['digest']}"]
    path = Path(args.kustomization)
    lines = path.read_text().splitlines()
    start, end = image_entry(lines)
    if lines[start:end] == wanted:
        print(f"{path} pins {IMAGE_NAME}:{tag}@{descriptor['digest']}, the image this tree builds")
        return
    if args.check:
        pinned = " ".join(line.strip() for line in lines[start + 1 : end])
        raise ImageError(f"this tree builds {descriptor['digest']}; {path} pins `{pinned}` (the release re-pins: make pin-image)")
    lines[start:end] = wanted
    path.write_text("\n".join(lines) + "\n")
    print(f"{path}: pinned {IMAGE_NAME}:{tag}@{descriptor['digest']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser("lock")
    lock.add_argument("--lock", required=True)
    fetch = commands.add_parser("fetch")
    fetch.add_argument("--lock", required=True)
    fetch.add_argument("--debs", required=True)
    build = commands.add_parser("build")
    build.add_argument("--lock", required=True)
    build.add_argument("--debs", required=True)
    build.add_argument("--binary", required=True)
    build.add_argument("--out", required=True)
    build.add_argument("--tar")
    build.add_argument("--tag", required=True)
    build.add_argument("--print-digest", action="store_true")
    verify = commands.add_parser("verify")
    verify.add_argument("--image", required=True)
    verify.add_argument("--no-run", action="store_true")
    listing = commands.add_parser("list")
    listing.add_argument("--image", required=True)
    pin = commands.add_parser("pin")
    pin.add_argument("--image", required=True)
    pin.add_argument("--kustomization", required=True)
    pin.add_argument("--check", action="store_true")
    args = parser.parse_args()
    try:
        {"lock": command_lock, "fetch": command_fetch, "build": command_build, "verify": command_verify, "list": command_list, "pin": command_pin}[args.command](args)
    except (ImageError, OSError, subprocess.CalledProcessError) as error:
        print(f"image/build.py {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
