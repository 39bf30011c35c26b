//! OCI image archives written in-process, without a registry or an image builder.
//!
//! The harness runs its own small images in sandboxes (the pause process, the probe), built
//! from static binaries on this machine. No image is ever pulled: a test node may have no
//! route to a registry, and a pushed image would be one more thing to trust and to pin.
//! `ctr -n k8s.io images import` (and `kind load image-archive`, which runs it on a node)
//! takes a tar of an OCI image layout, so this module writes exactly that: one uncompressed
//! layer holding the given files, the image config, the manifest and an `index.json` naming
//! the image. The same inputs give the same bytes, so the manifest digest identifies the
//! binaries inside.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The annotation containerd's import names the image by (the full reference).
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI layout's own name for a manifest: the tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The layout's marker file, the same for every layout of this version.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Directories every image gets although no file is in them: mount points the runtime
/// expects to exist (`proc`, `dev`, `sys`, `etc` for the hosts and resolv.conf files it
/// binds) and a world-writable, sticky `tmp`.
const BASE_DIRS: [(&str, u32); 5] = [
    ("dev", 0o755),
    ("etc", 0o755),
    ("proc", 0o755),
    ("sys", 0o755),
    ("tmp", 0o1777),
];

/// One file of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Its path in the image, relative to the root, e.g. `sandbox-probe` or `bin/x`.
    pub path: String,
    /// Where its content is read from on this machine.
    pub source: PathBuf,
    /// Its permission bits, e.g. `0o755`.
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The full reference the image is imported as, e.g. `sandbox-bench.local/probe:0.1.0`.
    pub name: String,
    pub files: Vec<ImageFile>,
    pub entrypoint: Vec<String>,
    /// `uid:gid` (or a user name) the container runs as; none means the runtime's default.
    pub user: Option<String>,
}

/// An archive written by [`write_oci_archive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub name: String,
    /// `sha256:…` of the manifest: what a Pod can pin as `name@digest`.
    pub manifest_digest: String,
    pub archive: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image source {path}: {source}")]
    Source { path: PathBuf, source: io::Error },
    #[error("writing image archive {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    /// Adding an entry to the layer failed; `path` is the entry's path in the image.
    #[error("image layer entry {path:?}: {source}")]
    Layer { path: String, source: io::Error },
    #[error("image file path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("image name {name:?} has no tag; give it as `registry/repository:tag`")]
    NoTag { name: String },
}

/// Writes `spec` as an OCI image-layout tar at `out`, atomically: the archive is written to a
/// temporary file beside `out` and renamed over it, so an importer never sees half an archive
/// and a failed write leaves any previous archive in place.
pub fn write_oci_archive(spec: &ImageSpec, out: &Path) -> Result<BuiltImage, ImageError> {
    let tag = tag_of(&spec.name).ok_or_else(|| ImageError::NoTag {
        name: spec.name.clone(),
    })?;
    let layer = layer_tar(&spec.files)?;
    let layer_descriptor = Descriptor::of(MEDIA_TYPE_LAYER, &layer);
    // The layer is uncompressed, so its diff id (digest of the content) is its digest.
    let config = to_json(&image_config(spec, &layer_descriptor.digest));
    let config_descriptor = Descriptor::of(MEDIA_TYPE_CONFIG, &config);
    let manifest = to_json(&Manifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: config_descriptor.clone(),
        layers: vec![layer_descriptor.clone()],
    });
    let mut manifest_descriptor = Descriptor::of(MEDIA_TYPE_MANIFEST, &manifest);
    manifest_descriptor.platform = Some(Platform::LINUX_AMD64);
    manifest_descriptor.annotations = BTreeMap::from([
        (ANNOTATION_CONTAINERD_NAME, spec.name.clone()),
        (ANNOTATION_REF_NAME, tag.to_string()),
    ]);
    let manifest_digest = manifest_descriptor.digest.clone();
    let index = to_json(&Index {
        schema_version: 2,
        media_type: MEDIA_TYPE_INDEX,
        manifests: vec![manifest_descriptor],
    });

    let entries = [
        ("oci-layout".to_string(), OCI_LAYOUT),
        (blob_path(&layer_descriptor.digest), layer.as_slice()),
        (blob_path(&config_descriptor.digest), config.as_slice()),
        (blob_path(&manifest_digest), manifest.as_slice()),
        // Last, so a reader streaming the archive has every blob before the index names them.
        ("index.json".to_string(), index.as_slice()),
    ];
    write_atomically(out, &["blobs/", "blobs/sha256/"], &entries)?;
    Ok(BuiltImage {
        name: spec.name.clone(),
        manifest_digest,
        archive: out.to_path_buf(),
    })
}

/// The tag of a reference: what follows the last `:` of the last path segment, since a `:`
/// before a `/` is a registry's port (`localhost:5000/probe:1`).
fn tag_of(name: &str) -> Option<&str> {
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = last_segment.rsplit_once(':')?;
    (!repository.is_empty() && !tag.is_empty()).then_some(tag)
}

/// A content descriptor as the OCI image spec defines it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: &'static str,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

impl Descriptor {
    fn of(media_type: &'static str, blob: &[u8]) -> Self {
        Descriptor {
            media_type,
            digest: sha256_digest(blob),
            size: blob.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Platform {
    architecture: &'static str,
    os: &'static str,
}

impl Platform {
    /// The one platform the harness builds for: its static binaries are x86-64 Linux.
    const LINUX_AMD64: Platform = Platform {
        architecture: "amd64",
        os: "linux",
    };
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

/// The image config. `PATH=/` because the binaries sit at the image's root.
fn image_config(spec: &ImageSpec, layer_digest: &str) -> serde_json::Value {
    let mut config = serde_json::json!({
        "Entrypoint": spec.entrypoint,
        "Env": ["PATH=/"],
    });
    if let Some(user) = &spec.user {
        config["User"] = user.clone().into();
    }
    serde_json::json!({
        "architecture": Platform::LINUX_AMD64.architecture,
        "os": Platform::LINUX_AMD64.os,
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    })
}

/// JSON without a trailing newline. serde_json's maps are sorted by key, so the bytes (and
/// the digests) depend only on the content.
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain structs and JSON values always serialise")
}

fn sha256_digest(data: &[u8]) -> String {
    let mut digest = String::from("sha256:");
    for byte in Sha256::digest(data) {
        let _ = write!(digest, "{byte:02x}");
    }
    digest
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// The layer: the base directories, every parent directory of a file, then the files in the
/// order given. Built in memory since its digest names it in the archive; the images hold a
/// few small static binaries.
fn layer_tar(files: &[ImageFile]) -> Result<Vec<u8>, ImageError> {
    let mut dirs: BTreeMap<String, u32> = BASE_DIRS
        .iter()
        .map(|&(dir, mode)| (dir.to_string(), mode))
        .collect();
    let mut contents = Vec::with_capacity(files.len());
    for file in files {
        check_path(&file.path)?;
        let data = std::fs::read(&file.source).map_err(|source| ImageError::Source {
            path: file.source.clone(),
            source,
        })?;
        let mut parent = Path::new(&file.path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.entry(dir.to_string_lossy().into_owned())
                .or_insert(0o755);
            parent = dir.parent();
        }
        contents.push((file, data));
    }
    for (file, _) in &contents {
        let clash = |reason| ImageError::BadPath {
            path: file.path.clone(),
            reason,
        };
        if dirs.contains_key(&file.path) {
            return Err(clash("is also a directory of the image"));
        }
        if contents.iter().filter(|(f, _)| f.path == file.path).count() > 1 {
            return Err(clash("is given twice"));
        }
    }
    let failed = |path: &str| {
        let path = path.to_string();
        move |source| ImageError::Layer { path, source }
    };
    let mut layer = tar::Builder::new(Vec::new());
    // A BTreeMap orders a directory before everything under it, as an unpacker needs.
    for (dir, mode) in &dirs {
        append(
            &mut layer,
            &format!("{dir}/"),
            tar::EntryType::Directory,
            *mode,
            &[],
        )
        .map_err(failed(dir))?;
    }
    for (file, data) in &contents {
        let kind = tar::EntryType::Regular;
        append(&mut layer, &file.path, kind, file.mode, data).map_err(failed(&file.path))?;
    }
    // Only the two closing zero blocks are left to write, into memory.
    layer.into_inner().map_err(failed("<end of layer>"))
}

/// Image paths are relative and plain, so a file lands where its spec says and nowhere else.
fn check_path(path: &str) -> Result<(), ImageError> {
    let bad = |reason| ImageError::BadPath {
        path: path.to_string(),
        reason,
    };
    if path.starts_with('/') {
        return Err(bad("must be relative to the image's root"));
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(bad("must not have empty, `.` or `..` parts"));
    }
    Ok(())
}

/// Appends one entry with everything that could vary between machines fixed: owner root,
/// time 0, no user or group names.
fn append(
    builder: &mut tar::Builder<impl Write>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder.append_data(&mut header, path, data)
}

fn write_atomically(
    out: &Path,
    dirs: &[&str],
    files: &[(String, &[u8])],
) -> Result<(), ImageError> {
    let failed = |source| ImageError::Write {
        path: out.to_path_buf(),
        source,
    };
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // In the same directory, so the rename cannot cross file systems.
    let temp = tempfile::Builder::new()
        .prefix(".oci-archive-")
        .tempfile_in(dir)
        .map_err(failed)?;
    let mut archive = tar::Builder::new(BufWriter::new(temp.as_file()));
    for dir in dirs {
        append(&mut archive, dir, tar::EntryType::Directory, 0o755, &[]).map_err(failed)?;
    }
    for (path, data) in files {
        append(&mut archive, path, tar::EntryType::Regular, 0o644, data).map_err(failed)?;
    }
    archive
        .into_inner()
        .map_err(failed)?
        .into_inner()
        .map_err(|e| failed(e.into_error()))?;
    // A temporary file is private (0600); the archive is read by tools that may run as
    // another user, like an image loader.
    let file = temp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(failed)?;
    file.sync_all().map_err(failed)?;
    temp.persist(out).map_err(|e| failed(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;

    use serde_json::Value;

    use super::*;

    /// Every regular file of a tar, by path, with its mode and content; directories too,
    /// with an empty content.
    fn entries(tar_bytes: &[u8]) -> HashMap<String, (u32, tar::EntryType, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut map = HashMap::new();
        for entry in archive.entries().expect("tar entries") {
            let mut entry = entry.expect("tar entry");
            let header = entry.header().clone();
            assert_eq!(header.mtime().expect("mtime"), 0);
            assert_eq!(
                (header.uid().expect("uid"), header.gid().expect("gid")),
                (0, 0)
            );
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("entry data");
            map.insert(
                path.trim_end_matches('/').to_string(),
                (header.mode().expect("mode"), header.entry_type(), data),
            );
        }
        map
    }

    struct Fixture {
        dir: tempfile::TempDir,
        spec: ImageSpec,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let probe = dir.path().join("probe-bin");
        let tool = dir.path().join("tool-bin");
        std::fs::write(&probe, b"\x7fELF probe").expect("write probe");
        std::fs::write(&tool, b"#!/bin/true\n").expect("write tool");
        let spec = ImageSpec {
            name: "sandbox-bench.local/probe:0.1.0".into(),
            files: vec![
                ImageFile {
                    path: "sandbox-probe".into(),
                    source: probe,
                    mode: 0o755,
                },
                ImageFile {
                    path: "bin/x".into(),
                    source: tool,
                    mode: 0o640,
                },
            ],
            entrypoint: vec!["/sandbox-probe".into(), "serve".into()],
            user: Some("65534:65534".into()),
        };
        Fixture { dir, spec }
    }

    fn blob<'a>(
        outer: &'a HashMap<String, (u32, tar::EntryType, Vec<u8>)>,
        descriptor: &Value,
    ) -> &'a [u8] {
        let digest = descriptor["digest"].as_str().expect("digest");
        let data = &outer
            .get(&blob_path(digest))
            .unwrap_or_else(|| panic!("no blob for {descriptor}"))
            .2;
        assert_eq!(sha256_digest(data), digest, "{descriptor}");
        assert_eq!(descriptor["size"], data.len() as u64, "{descriptor}");
        data
    }

    #[test]
    fn every_descriptor_matches_its_blob_and_the_layer_holds_the_files() {
        let f = fixture();
        let out = f.dir.path().join("probe.oci.tar");
        let built = write_oci_archive(&f.spec, &out).expect("write archive");
        assert_eq!(built.archive, out);
        assert_eq!(built.name, f.spec.name);
        let outer = entries(&std::fs::read(&out).expect("read archive"));
        assert_eq!(outer["oci-layout"].2, br#"{"imageLayoutVersion":"1.0.0"}"#);

        let index: Value = serde_json::from_slice(&outer["index.json"].2).expect("index");
        assert_eq!(index["schemaVersion"], 2);
        let manifests = index["manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 1, "{index}");
        let manifest_descriptor = &manifests[0];
        assert_eq!(manifest_descriptor["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(
            manifest_descriptor["digest"],
            built.manifest_digest.as_str()
        );
        assert_eq!(manifest_descriptor["platform"]["architecture"], "amd64");

        let manifest: Value =
            serde_json::from_slice(blob(&outer, manifest_descriptor)).expect("manifest");
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], MEDIA_TYPE_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], MEDIA_TYPE_CONFIG);
        let config: Value =
            serde_json::from_slice(blob(&outer, &manifest["config"])).expect("config");
        assert_eq!(
            (&config["architecture"], &config["os"]),
            (&"amd64".into(), &"linux".into())
        );
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/sandbox-probe", "serve"])
        );
        assert_eq!(config["config"]["User"], "65534:65534");
        assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/"]));

        let layers = manifest["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 1, "{manifest}");
        assert_eq!(layers[0]["mediaType"], MEDIA_TYPE_LAYER);
        let layer = blob(&outer, &layers[0]);
        assert_eq!(config["rootfs"]["type"], "layers");
        assert_eq!(config["rootfs"]["diff_ids"][0], layers[0]["digest"]);

        let files = entries(layer);
        assert_eq!(
            files["sandbox-probe"],
            (0o755, tar::EntryType::Regular, b"\x7fELF probe".to_vec())
        );
        assert_eq!(
            files["bin/x"],
            (0o640, tar::EntryType::Regular, b"#!/bin/true\n".to_vec())
        );
        assert_eq!(files["bin"].0, 0o755);
        assert_eq!(files["tmp"].0, 0o1777);
        for dir in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
            assert_eq!(files[dir].1, tar::EntryType::Directory, "{dir}");
        }
        assert_eq!(files.len(), 8, "{:?}", files.keys());
    }

    #[test]
    fn the_index_names_the_image_for_containerd_and_by_tag() {
        let f = fixture();
        let out = f.dir.path().join("probe.oci.tar");
        write_oci_archive(&f.spec, &out).expect("write archive");
        let outer = entries(&std::fs::read(&out).expect("read archive"));
        let index: Value = serde_json::from_slice(&outer["index.json"].2).expect("index");
        let annotations = &index["manifests"][0]["annotations"];
        assert_eq!(
            annotations[ANNOTATION_CONTAINERD_NAME],
            "sandbox-bench.local/probe:0.1.0"
        );
        assert_eq!(annotations[ANNOTATION_REF_NAME], "0.1.0");
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes_and_a_changed_file_another_digest() {
        let f = fixture();
        let (one, two) = (f.dir.path().join("one.tar"), f.dir.path().join("two.tar"));
        let first = write_oci_archive(&f.spec, &one).expect("first");
        let second = write_oci_archive(&f.spec, &two).expect("second");
        assert_eq!(first.manifest_digest, second.manifest_digest);
        assert_eq!(
            std::fs::read(&one).expect("one"),
            std::fs::read(&two).expect("two")
        );
        std::fs::write(&f.spec.files[0].source, b"\x7fELF probe v2").expect("rewrite");
        let third = write_oci_archive(&f.spec, &one).expect("over the first");
        assert_ne!(third.manifest_digest, first.manifest_digest);
    }

    #[test]
    fn a_missing_source_is_named_and_leaves_nothing_behind() {
        let mut f = fixture();
        let missing = f.dir.path().join("no-such-binary");
        f.spec.files[1].source = missing.clone();
        let out = f.dir.path().join("out").join("probe.oci.tar");
        std::fs::create_dir(out.parent().expect("parent")).expect("out dir");
        let error = write_oci_archive(&f.spec, &out).expect_err("source is missing");
        assert!(
            matches!(&error, ImageError::Source { path, .. } if *path == missing),
            "{error:?}"
        );
        assert!(error.to_string().contains("no-such-binary"), "{error}");
        let left: Vec<_> = std::fs::read_dir(out.parent().expect("parent"))
            .expect("list")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_name_needs_a_tag_and_paths_stay_inside_the_image() {
        let mut f = fixture();
        let out = f.dir.path().join("x.tar");
        for name in [
            "sandbox-bench.local/probe",
            "localhost:5000/probe",
            "probe:",
        ] {
            f.spec.name = name.into();
            let e = write_oci_archive(&f.spec, &out).expect_err(name);
            assert!(matches!(e, ImageError::NoTag { .. }), "{name}: {e:?}");
        }
        f.spec.name = "localhost:5000/probe:1".into();
        assert_eq!(tag_of(&f.spec.name), Some("1"));
        for (path, why) in [
            ("/sandbox-probe", "relative"),
            ("bin/../etc/x", "`..`"),
            ("bin//x", "empty"),
            ("tmp", "directory"),
        ] {
            f.spec.files[1].path = path.into();
            let e = write_oci_archive(&f.spec, &out).expect_err(path);
            assert!(e.to_string().contains(why), "{path}: {e}");
        }
        f.spec.files[1].path = "sandbox-probe".into();
        let e = write_oci_archive(&f.spec, &out).expect_err("twice");
        assert!(e.to_string().contains("twice"), "{e}");
        assert!(!out.exists());
    }
}
