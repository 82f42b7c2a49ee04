//! OCI images of compiled flows, written by flowc itself (no Docker daemon, no build tool):
//! one gzip layer with the static binary, a non-root user and the CA certificates, an image
//! config, a manifest, and an [OCI image layout](https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
//! around them; optionally that layout as one tar archive, which `docker load`,
//! `podman load` and `skopeo copy oci-archive:` accept.
//!
//! Everything is reproducible: tar entries are sorted and carry a fixed time, owner and mode,
//! the gzip header has no name and a fixed time, the JSON documents are written in a fixed
//! order, and the image's creation time is a parameter (`SOURCE_DATE_EPOCH` in the CLI, the
//! Unix epoch by default). The same binary and flow give the same image digest.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The user the image runs as (the `nonroot` user of distroless images).
pub const UID: u64 = 65532;
/// The port `serve` listens on in the image.
pub const PORT: u16 = 8080;
/// Where the layer puts the CA certificates (Debian's path, where rustls' platform verifier
/// and OpenSSL look for them first).
pub const CA_CERTIFICATES: &str = "etc/ssl/certs/ca-certificates.crt";

/// What goes into an image.
#[derive(Debug, Clone)]
pub struct Image<'a> {
    /// The flow's id: names the binary (`/usr/local/bin/<id>`) and the image.
    pub id: &'a str,
    /// The static binary of the flow's program.
    pub binary: &'a [u8],
    /// A bundle of PEM CA certificates, or `None` for an image without them (then HTTPS
    /// requests of the flow fail to verify any server).
    pub ca_certificates: Option<&'a [u8]>,
    /// The flow document's bytes (the image records their SHA-256).
    pub flow: &'a [u8],
    /// The image's creation time, in seconds since the Unix epoch: the config's `created`
    /// and the mtime of every file.
    pub created: u64,
    /// More files (Node.js and the MCP servers' packages, `--include`d files), owned by root.
    pub files: Vec<File>,
    /// Folders put before the image's `PATH`.
    pub path: Vec<String>,
}

/// A file of the layer besides the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its path in the image, without the leading `/`.
    pub path: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// What [`write_layout`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `sha256:<hex>` of the image manifest: the image's digest.
    pub digest: String,
    /// The sum of the blob sizes (layer, config, manifest), in bytes.
    pub size: u64,
    /// The tags: the layout's (`org.opencontainers.image.ref.name`), then the flow's own,
    /// which only the archive carries.
    pub tags: Vec<String>,
    /// `sha256:<hex>` of the flow document.
    pub flow_sha256: String,
}

/// A blob: its bytes and digest.
struct Blob {
    bytes: Vec<u8>,
    hex: String,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let hex = sha256_hex(&bytes);
        Blob { bytes, hex }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", self.hex)
    }

    fn descriptor(&self, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": self.digest(), "size": self.bytes.len()})
    }
}

/// The SHA-256 of some bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The tags every image gets: `latest`, and the first 12 hex digits of the flow document's
/// SHA-256, which name this version of the flow (`oci:DIR:latest`, `oci:DIR:3f2a9c…`).
pub fn tags(flow: &[u8]) -> Vec<String> {
    vec![LAYOUT_TAG.to_owned(), flow_tag(&sha256_hex(flow))]
}

/// The tag of the image in the OCI layout (its `org.opencontainers.image.ref.name`).
pub const LAYOUT_TAG: &str = "latest";

/// The tag of one version of a flow: the first 12 hex digits of its document's SHA-256.
fn flow_tag(flow_sha256_hex: &str) -> String {
    flow_sha256_hex.chars().take(12).collect()
}

/// Refuses a folder that holds something other than an OCI image layout (so that writing the
/// image cannot delete a user's files); a missing or empty folder, or a layout, is fine.
pub fn check_layout_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() && !dir.join("oci-layout").is_file() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not an OCI image layout; give an empty or new folder", dir.display()),
        ));
    }
    Ok(())
}

/// RFC 3339 (UTC) of seconds since the epoch.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// One file or folder of the layer.
struct Entry {
    mode: u32,
    owner: u64,
    /// `None` for a folder.
    data: Option<Vec<u8>>,
}

/// The layer's files, by path (a `BTreeMap`, so in sorted order, parents first).
fn layer_entries(image: &Image) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let dir = |entries: &mut BTreeMap<String, Entry>, path: &str, mode: u32, owner: u64| {
        entries.insert(format!("{path}/"), Entry { mode, owner, data: None });
    };
    for path in ["etc", "usr", "usr/local", "usr/local/bin"] {
        dir(&mut entries, path, 0o755, 0);
    }
    dir(&mut entries, "home", 0o755, 0);
    dir(&mut entries, "home/nonroot", 0o700, UID);
    dir(&mut entries, "tmp", 0o1777, 0);
    let file = |data: &[u8], mode: u32| Entry { mode, owner: 0, data: Some(data.to_vec()) };
    entries.insert("etc/passwd".into(), file(passwd().as_bytes(), 0o644));
    entries.insert("etc/group".into(), file(group().as_bytes(), 0o644));
    if let Some(certs) = image.ca_certificates {
        dir(&mut entries, "etc/ssl", 0o755, 0);
        dir(&mut entries, "etc/ssl/certs", 0o755, 0);
        entries.insert(CA_CERTIFICATES.into(), file(certs, 0o644));
    }
    entries.insert(format!("usr/local/bin/{}", image.id), file(image.binary, 0o755));
    for extra in &image.files {
        let mut parent = String::new();
        for part in extra.path.split('/').collect::<Vec<_>>().split_last().map_or(&[][..], |(_, dirs)| dirs) {
            parent = if parent.is_empty() { (*part).to_owned() } else { format!("{parent}/{part}") };
            entries.entry(format!("{parent}/")).or_insert(Entry { mode: 0o755, owner: 0, data: None });
        }
        entries.insert(extra.path.clone(), file(&extra.data, extra.mode));
    }
    entries
}

fn passwd() -> String {
    format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{UID}:{UID}:nonroot:/home/nonroot:/sbin/nologin\n")
}

fn group() -> String {
    format!("root:x:0:\nnonroot:x:{UID}:\n")
}

/// A tar header with everything fixed but the path, size, mode and owner.
fn header(path: &str, size: u64, mode: u32, owner: u64, mtime: u64, dir: bool) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(owner);
    header.set_gid(owner);
    header.set_mtime(mtime);
    header.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
    header.set_cksum();
    Ok(header)
}

/// The uncompressed layer tar.
fn layer_tar(image: &Image) -> io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in layer_entries(image) {
        let data = entry.data.as_deref().unwrap_or_default();
        let header = header(&path, data.len() as u64, entry.mode, entry.owner, image.created, entry.data.is_none())?;
        builder.append(&header, data)?;
    }
    builder.into_inner()
}

/// gzip with a fixed header (no file name, mtime 0) and level.
fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder =
        flate2::GzBuilder::new().mtime(0).write(Vec::with_capacity(bytes.len() / 2), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The image's labels (config) and annotations (manifest): the same keys and values.
fn labels(image: &Image, flow_sha256: &str) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "org.opencontainers.image.title": image.id,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.created": rfc3339(image.created),
        "dev.flowc.version": version,
        "dev.flowc.flow-sha256": flow_sha256,
    })
}

/// The blobs of an image: layer, config, manifest, in this order, and the manifest's index.
fn blobs(image: &Image) -> io::Result<(Vec<Blob>, Value, String)> {
    let layer = layer_tar(image)?;
    let diff_id = format!("sha256:{}", sha256_hex(&layer));
    let layer = Blob::new(gzip(&layer)?);
    let flow_sha256 = format!("sha256:{}", sha256_hex(image.flow));
    let labels = labels(image, &flow_sha256);
    let binary = format!("/usr/local/bin/{}", image.id);
    let mut path: Vec<&str> = image.path.iter().map(String::as_str).collect();
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"]);
    let mut env = vec![Value::from(format!("PATH={}", path.join(":")))];
    if image.ca_certificates.is_some() {
        env.push(format!("SSL_CERT_FILE=/{CA_CERTIFICATES}").into());
    }
    let created = rfc3339(image.created);
    let config = json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{UID}:{UID}"),
            "ExposedPorts": { format!("{PORT}/tcp"): {} },
            "Env": env,
            "Entrypoint": [binary],
            "Cmd": ["serve", "--addr", format!("0.0.0.0:{PORT}")],
            "WorkingDir": "/home/nonroot",
            "Labels": labels,
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "created_by": format!("flowc {} image", env!("CARGO_PKG_VERSION")) }],
    });
    let config = Blob::new(to_bytes(&config));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [layer.descriptor("application/vnd.oci.image.layer.v1.tar+gzip")],
        "annotations": labels,
    });
    let manifest = Blob::new(to_bytes(&manifest));
    // One entry per image, as the image-layout conventions of skopeo, buildah and ko expect:
    // `oci:DIR` (no tag) then names it, and `oci:DIR:latest` too. A descriptor has one
    // `ref.name`, so the flow's own tag (the SHA-256 prefix) is a tag of the archive only.
    let mut descriptor = manifest.descriptor(MANIFEST);
    descriptor["platform"] = json!({"architecture": "amd64", "os": "linux"});
    descriptor["annotations"] = json!({
        "org.opencontainers.image.ref.name": LAYOUT_TAG,
        // What `docker load` names the image (as `docker save` writes it).
        "io.containerd.image.name": format!("docker.io/library/{}:{LAYOUT_TAG}", image.id),
    });
    let manifests = vec![descriptor];
    let index =
        json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
    Ok((vec![layer, config, manifest], index, flow_sha256))
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_LAYOUT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Writes the image as an OCI image layout in `dir` (created if needed). A folder that holds
/// something other than an OCI layout is refused; a previous layout there is replaced.
pub fn write_layout(image: &Image, dir: &Path) -> io::Result<Written> {
    check_layout_dir(dir)?;
    if dir.exists() {
        for stale in ["blobs", "index.json", "oci-layout"] {
            let path = dir.join(stale);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else if path.exists() {
                std::fs::remove_file(&path)?;
            }
        }
    }
    let (blobs, index, flow_sha256) = blobs(image)?;
    let blob_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir)?;
    for blob in &blobs {
        std::fs::write(blob_dir.join(&blob.hex), &blob.bytes)?;
    }
    std::fs::write(dir.join("oci-layout"), OCI_LAYOUT)?;
    std::fs::write(dir.join("index.json"), to_bytes(&index))?;
    Ok(Written {
        digest: blobs[2].digest(),
        size: blobs.iter().map(|b| b.bytes.len() as u64).sum(),
        tags: tags(image.flow),
        flow_sha256,
    })
}

/// Writes the OCI layout in `dir` (as [`write_layout`] wrote it) as one tar archive at `file`,
/// with a `manifest.json` for loaders that only know Docker's archive format. Entries are
/// sorted and carry the time `mtime`, owner 0 and fixed modes.
pub fn write_archive(dir: &Path, file: &Path, mtime: u64) -> io::Result<()> {
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json"))?)?;
    let manifest_hex = |descriptor: &Value| -> io::Result<String> {
        descriptor["digest"].as_str().and_then(|d| d.strip_prefix("sha256:")).map(str::to_owned).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "index.json: a descriptor without a sha256 digest")
        })
    };
    // Docker's archive format: one entry per image, with every tag of it (`<title>:<tag>`):
    // the layout's, then the flow's own (from the manifest's `dev.flowc.flow-sha256`).
    let mut docker: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for descriptor in index["manifests"].as_array().into_iter().flatten() {
        let tag = descriptor["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or(LAYOUT_TAG);
        docker.entry(manifest_hex(descriptor)?).or_default().push(tag.to_owned());
    }
    let blob_dir = dir.join("blobs").join("sha256");
    let mut docker_manifest = Vec::new();
    for (hex, tags) in &docker {
        let manifest: Value = serde_json::from_slice(&std::fs::read(blob_dir.join(hex))?)?;
        let title = manifest["annotations"]["org.opencontainers.image.title"].as_str().unwrap_or("image");
        let mut tags = tags.clone();
        if let Some(hex) =
            manifest["annotations"]["dev.flowc.flow-sha256"].as_str().and_then(|d| d.strip_prefix("sha256:"))
        {
            tags.push(flow_tag(hex));
        }
        let repo_tags: Vec<String> = tags.iter().map(|tag| format!("{title}:{tag}")).collect();
        let layers: Vec<String> = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| manifest_hex(l).map(|h| format!("blobs/sha256/{h}")))
            .collect::<io::Result<_>>()?;
        docker_manifest.push(json!({
            "Config": format!("blobs/sha256/{}", manifest_hex(&manifest["config"])?),
            "RepoTags": repo_tags,
            "Layers": layers,
        }));
    }
    let mut files: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    files.insert("blobs/".into(), None);
    files.insert("blobs/sha256/".into(), None);
    let mut names: Vec<_> = std::fs::read_dir(&blob_dir)?.collect::<io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name().to_string_lossy().into_owned();
        files.insert(format!("blobs/sha256/{name}"), Some(std::fs::read(entry.path())?));
    }
    files.insert("index.json".into(), Some(std::fs::read(dir.join("index.json"))?));
    files.insert("oci-layout".into(), Some(std::fs::read(dir.join("oci-layout"))?));
    files.insert("manifest.json".into(), Some(to_bytes(&Value::Array(docker_manifest))));

    let mut builder = tar::Builder::new(io::BufWriter::new(std::fs::File::create(file)?));
    for (path, data) in &files {
        let bytes = data.as_deref().unwrap_or_default();
        let (mode, dir) = if data.is_some() { (0o644, false) } else { (0o755, true) };
        builder.append(&header(path, bytes.len() as u64, mode, 0, mtime, dir)?, bytes)?;
    }
    builder.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    fn image<'a>(binary: &'a [u8], certs: Option<&'a [u8]>) -> Image<'a> {
        Image {
            id: "demo",
            binary,
            ca_certificates: certs,
            flow: b"{}",
            created: 0,
            files: Vec::new(),
            path: Vec::new(),
        }
    }

    #[test]
    fn the_layer_is_sorted_and_owned_as_declared() {
        let tar = layer_tar(&image(b"\x7fELF", Some(b"PEM"))).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32, u64, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap())
            })
            .collect();
        let paths: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort_unstable();
        assert_eq!(paths, sorted);
        assert!(paths.contains(&"usr/local/bin/demo") && paths.contains(&"etc/ssl/certs/ca-certificates.crt"));
        let of = |p: &str| entries.iter().find(|e| e.0 == p).cloned().unwrap();
        assert_eq!(of("usr/local/bin/demo").1, 0o755);
        assert_eq!(of("home/nonroot/").2, UID);
        assert_eq!(of("tmp/").1, 0o1777);
        assert!(entries.iter().all(|e| e.3 == 0));
        let without = layer_tar(&image(b"\x7fELF", None)).unwrap();
        let count = tar::Archive::new(without.as_slice()).entries().unwrap().count();
        assert_eq!(count, entries.len() - 3, "no etc/ssl, etc/ssl/certs, bundle without certificates");
    }

    #[test]
    fn the_same_input_gives_the_same_digest_and_another_time_another() {
        let (a, _, _) = blobs(&image(b"binary", None)).unwrap();
        let (b, _, _) = blobs(&image(b"binary", None)).unwrap();
        assert_eq!(a[2].digest(), b[2].digest());
        let later = Image { created: 1_700_000_000, ..image(b"binary", None) };
        let (c, _, _) = blobs(&later).unwrap();
        assert_ne!(a[2].digest(), c[2].digest());
        let config: Value = serde_json::from_slice(&c[1].bytes).unwrap();
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["config"]["Labels"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
    }
}
