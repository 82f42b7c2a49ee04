//! `flowc image`: the OCI image of the `hello` fixture, checked with the tools people use on
//! images (skopeo, umoci), unpacked and run.
//!
//! The static (musl) release build is done once per test process, in the build cache
//! `target/flows/image-cache` that reruns reuse (a cold build takes minutes). Needs
//! `rustup target add x86_64-unknown-linux-musl` and apt `musl-tools skopeo umoci` (.ci/run).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flowc_tests::bin::{flowc, run_tool, Ran};
use flowc_tests::flows::flows_dir;
use serde_json::{json, Value};

/// The image must stay under this many bytes (the sum of its blobs).
const MAX_IMAGE_BYTES: u64 = 15 * 1024 * 1024;

/// One `flowc image` run: its layout folder, archive and printed digest.
struct Built {
    layout: PathBuf,
    archive: PathBuf,
    digest: String,
    ran: Ran,
}

/// A fresh folder for this test process's images.
fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = flows_dir().join("image").join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the image test folder");
        dir
    })
}

/// `flowc image fixtures/valid/hello.json -o <tag> --tar <tag>.tar` with extra environment.
fn build_image(tag: &str, env: &[(&str, &str)]) -> Built {
    let layout = work_dir().join(tag);
    let archive = work_dir().join(format!("{tag}.tar"));
    let cache = flows_dir().join("image-cache");
    let cache = cache.to_str().expect("a UTF-8 path");
    let mut all_env = vec![("FLOWC_CACHE_DIR", cache)];
    all_env.extend_from_slice(env);
    let ran = flowc(&["image", "fixtures/valid/hello.json", "-o", path(&layout), "--tar", path(&archive)], &all_env);
    assert_eq!(ran.code, 0, "flowc image failed:\n{ran}");
    let digest = ran.stdout.trim().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "flowc image prints the digest on stdout:\n{ran}");
    Built { layout, archive, digest, ran }
}

/// The image of `hello`, built once per test process (the first build does the musl build).
fn hello() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| build_image("hello", &[]))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn tool(name: &str, args: &[&str]) -> Ran {
    let ran = run_tool(Path::new(name), args, &[]);
    assert_eq!(ran.code, 0, "{name} {args:?}:\n{ran}");
    ran
}

fn json_of(ran: &Ran) -> Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{ran}"))
}

fn flow_sha256() -> String {
    let bytes = std::fs::read(flowc_tests::flows::fixture("valid", "hello")).expect("the fixture");
    format!("sha256:{}", flowc::image::sha256_hex(&bytes))
}

#[test]
fn skopeo_reads_the_labels_user_port_and_entrypoint() {
    let image = hello();
    let reference = format!("oci:{}:latest", path(&image.layout));
    let inspect = json_of(&tool("skopeo", &["inspect", &reference]));
    assert_eq!(inspect["Digest"], image.digest.as_str(), "{inspect:#}");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    let labels = &inspect["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "hello", "{inspect:#}");
    assert_eq!(labels["org.opencontainers.image.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["dev.flowc.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["dev.flowc.flow-sha256"], flow_sha256().as_str());
    assert_eq!(labels["org.opencontainers.image.created"], "1970-01-01T00:00:00Z");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1), "one layer: {inspect:#}");

    let config = json_of(&tool("skopeo", &["inspect", "--config", &reference]));
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "{config:#}");
    assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(c["Entrypoint"], json!(["/usr/local/bin/hello"]));
    assert_eq!(c["Cmd"], json!(["serve", "--addr", "0.0.0.0:8080"]));
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");

    // The layout holds one image, so the plain reference names it too (with two entries for
    // the same manifest, skopeo says "more than one image in oci, choose an image").
    let plain = json_of(&tool("skopeo", &["inspect", &format!("oci:{}", path(&image.layout))]));
    assert_eq!(plain["Digest"], image.digest.as_str());
    let index: Value = serde_json::from_slice(&std::fs::read(image.layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(1), "{index:#}");
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "latest", "{index:#}");
}

#[test]
fn the_archive_loads_as_oci_and_docker_archives_and_skopeo_copies_the_layout() {
    let image = hello();
    // flowc's own archive, read the way `podman load` (OCI) and older `docker load` (the
    // manifest.json of Docker's format) read it.
    let oci = json_of(&tool("skopeo", &["inspect", &format!("oci-archive:{}:latest", path(&image.archive))]));
    assert_eq!(oci["Digest"], image.digest.as_str());
    let docker = json_of(&tool("skopeo", &["inspect", &format!("docker-archive:{}", path(&image.archive))]));
    assert_eq!(docker["Labels"]["org.opencontainers.image.title"], "hello", "{docker:#}");
    let tag = &flow_sha256()["sha256:".len()..][..12];
    let listed = tool("tar", &["-xOf", path(&image.archive), "manifest.json"]);
    let manifest = json_of(&listed);
    assert_eq!(manifest[0]["RepoTags"], json!(["hello:latest", format!("hello:{tag}")]), "{manifest:#}");
    let names = tool("tar", &["-tf", path(&image.archive)]).stdout;
    let names: Vec<&str> = names.lines().collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "archive entries are sorted");
    assert!(names.contains(&"index.json") && names.contains(&"oci-layout"), "{names:?}");

    // skopeo copies the layout into both archive formats (skopeo checks every blob's digest).
    let copied = work_dir().join("copied.oci.tar");
    tool(
        "skopeo",
        &["copy", &format!("oci:{}:latest", path(&image.layout)), &format!("oci-archive:{}", path(&copied))],
    );
    let again = json_of(&tool("skopeo", &["inspect", &format!("oci-archive:{}", path(&copied))]));
    assert_eq!(again["Digest"], image.digest.as_str());
    let docker_copy = work_dir().join("copied.docker.tar");
    tool(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:latest", path(&image.layout)),
            &format!("docker-archive:{}:hello:latest", path(&docker_copy)),
        ],
    );
    assert!(std::fs::metadata(&docker_copy).map(|m| m.len()).unwrap_or(0) > 1_000_000);
}

/// True when the ELF file has no program interpreter (`PT_INTERP`): a static executable.
fn is_static_elf(bytes: &[u8]) -> bool {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).all(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) != 3
    })
}

#[test]
fn umoci_unpacks_a_static_binary_that_runs_the_flow() {
    let image = hello();
    let bundle = work_dir().join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    tool("umoci", &["unpack", "--rootless", "--image", &format!("{}:latest", path(&image.layout)), path(&bundle)]);
    let rootfs = bundle.join("rootfs");
    let binary = rootfs.join("usr/local/bin/hello");
    assert!(is_static_elf(&std::fs::read(&binary).expect("the binary is in the image")), "not static");

    let ran = run_tool(&binary, &["run", "--input-json", r#"{"name":"Ada"}"#], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let result: Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran}"));
    assert_eq!(result["status"], "success", "{result:#}");
    assert_eq!(result["outputs"], json!({"greeting": "Hello, Ada!", "verdict": "a short name"}));

    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("/etc/passwd");
    assert!(passwd.lines().any(|l| l.starts_with("nonroot:x:65532:65532:")), "{passwd}");
    let group = std::fs::read_to_string(rootfs.join("etc/group")).expect("/etc/group");
    assert!(group.lines().any(|l| l == "nonroot:x:65532:"), "{group}");
    // The build machine's CA bundle (ca-certificates) is in the image, for HTTPS.
    let host = std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("ca-certificates is installed here");
    assert_eq!(std::fs::read(rootfs.join("etc/ssl/certs/ca-certificates.crt")).ok(), Some(host));
    // umoci's runtime config carries the image's user and command line.
    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], json!(["/usr/local/bin/hello", "serve", "--addr", "0.0.0.0:8080"]));
}

/// The sum of the sizes of the blobs under `layout`.
fn blob_bytes(layout: &Path) -> u64 {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("a blob").metadata().expect("metadata").len())
        .sum()
}

#[test]
fn the_image_is_small() {
    let image = hello();
    let bytes = blob_bytes(&image.layout);
    assert!(bytes < MAX_IMAGE_BYTES, "the image has {bytes} bytes of blobs");
    // flowc reports the same size it wrote.
    let mib = format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
    assert!(image.ran.stderr.contains(&mib), "expected {mib} in:\n{}", image.ran);
}

#[test]
fn the_same_flow_gives_the_same_image_and_source_date_epoch_another() {
    let first = hello();
    let second = build_image("hello-again", &[]);
    assert_eq!(first.digest, second.digest);
    for file in ["index.json", "oci-layout"] {
        assert_eq!(std::fs::read(first.layout.join(file)).unwrap(), std::fs::read(second.layout.join(file)).unwrap());
    }
    assert_eq!(std::fs::read(&first.archive).unwrap(), std::fs::read(&second.archive).unwrap(), "archives differ");

    let dated = build_image("hello-dated", &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ne!(dated.digest, first.digest);
    let inspect = json_of(&tool("skopeo", &["inspect", &format!("oci:{}:latest", path(&dated.layout))]));
    assert_eq!(inspect["Labels"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");

    // Rebuilding into the same folder replaces the old image (no stale blobs).
    let rebuilt = build_image("hello-dated", &[]);
    assert_eq!(rebuilt.digest, first.digest);
    assert_eq!(blob_bytes(&rebuilt.layout), blob_bytes(&first.layout));
}

#[test]
fn a_folder_that_is_not_an_image_layout_is_refused() {
    let dir = work_dir().join("not-a-layout");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let cache = flows_dir().join("image-cache");
    let ran = flowc(&["image", "fixtures/valid/hello.json", "-o", path(&dir)], &[("FLOWC_CACHE_DIR", path(&cache))]);
    assert_eq!(ran.code, 2, "{ran}");
    assert!(ran.stderr.contains("is not an OCI image layout"), "{ran}");
    assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine");

    let fresh = work_dir().join("never-written");
    let ran = flowc(&["image", "fixtures/invalid/43-several-unrelated-mistakes.json", "-o", path(&fresh)], &[]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.contains("error[E009]"), "{ran}");
    assert!(!fresh.exists(), "nothing is written for an invalid flow");
}

/// A flow whose stdio MCP server is `node` running server-everything from npm: the image
/// carries Node.js (with the C libraries it links), the package at the version installed
/// here, and a PATH that finds them. The flow runs inside the unpacked image — chrooted into
/// it, as its user, from its working directory — and calls the bundled server.
#[test]
fn an_image_carries_node_and_the_mcp_server_package_and_the_flow_runs_in_it() {
    let layout = work_dir().join("mcp-everything");
    let cache = flows_dir().join("image-cache");
    let ran = flowc(
        &["image", "fixtures/valid/mcp-everything.json", "-o", path(&layout)],
        &[("FLOWC_CACHE_DIR", path(&cache))],
    );
    assert_eq!(ran.code, 0, "{ran}");
    let installed: Value = serde_json::from_slice(
        &std::fs::read(
            flowc_tests::flows::root()
                .join("tests/mcp/node_modules/@modelcontextprotocol/server-everything/package.json"),
        )
        .expect("server-everything is installed (npm ci --prefix tests/mcp)"),
    )
    .unwrap();
    let pinned = format!("@modelcontextprotocol/server-everything@{}", installed["version"].as_str().unwrap());
    assert!(ran.stderr.contains(&pinned), "the version tested here is the one bundled: {ran}");

    let bundle = work_dir().join("mcp-everything-bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    // Not rootless: the files keep the image's owners (the user's home is its own, 0700).
    tool("umoci", &["unpack", "--image", &format!("{}:latest", path(&layout)), path(&bundle)]);
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("opt/flowc/node/bin/node").is_file());
    assert!(rootfs
        .join("home/nonroot/tests/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        .is_file());
    let config: Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let env: Vec<String> =
        config["process"]["env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert!(env.iter().any(|e| e.starts_with("PATH=/opt/flowc/bin:/opt/flowc/node/bin:")), "{env:?}");

    // As the image's runtime would start it: root is the image, the user and working
    // directory are the image's, the environment is the image's and nothing else.
    let root = std::ffi::CString::new(path(&rootfs)).unwrap();
    let home = std::ffi::CString::new("/home/nonroot").unwrap();
    let mut command = std::process::Command::new("/usr/local/bin/mcp-everything");
    command.args(["run", "--input-json", r#"{"message": "from the image"}"#]).env_clear();
    for pair in &env {
        let (name, value) = pair.split_once('=').unwrap();
        command.env(name, value);
    }
    // SAFETY: only async-signal-safe calls between fork and exec, on strings made before.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::chroot(root.as_ptr()) != 0
                || libc::chdir(home.as_ptr()) != 0
                || libc::setgid(65532) != 0
                || libc::setuid(65532) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.stdin(std::process::Stdio::null()).output().expect("run the flow in the image");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}:\n{stdout}\n{stderr}"));
    assert_eq!(output.status.code(), Some(0), "{result:#}\n{stderr}");
    let tools = &result["outputs"]["tools"];
    assert_eq!(tools["echo"], "Echo: from the image", "{result:#}");
    assert_eq!(tools["sum"], "The sum of 2 and 40 is 42.", "{result:#}");
    assert_eq!(result["nodes"]["echo"]["metadata"]["server_info"]["name"], "mcp-servers/everything");
}

/// A stdio server the image cannot carry is a diagnostic at its `command`, before anything is
/// built; `--include` brings a program in.
#[test]
fn a_server_program_the_image_cannot_carry_is_a_diagnostic_at_its_command() {
    let layout = work_dir().join("not-bundled");
    let ran = flowc(&["image", "fixtures/valid/flow-as-tool.json", "-o", path(&layout)], &[]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.contains("error[E030]"), "{ran}");
    assert!(ran.stderr.contains("(at /nodes/1/config/server/command)"), "{ran}");
    assert!(ran.stderr.contains("--include PATH:DEST"), "{ran}");
    assert!(!layout.exists(), "nothing was written");
    let ran =
        flowc(&["image", "fixtures/valid/flow-as-tool.json", "-o", path(&layout), "--include", "x:relative"], &[]);
    assert_eq!(ran.code, 2, "{ran}");
    assert!(ran.stderr.contains("DEST must be an absolute file path"), "{ran}");
}
