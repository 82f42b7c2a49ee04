//! Kubernetes manifests of a compiled flow (`flowc deploy k8s`): the flow's image as a
//! Deployment and a Service (a served flow), a CronJob (a scheduled flow) or a Job (a flow run
//! once). Credentials are references to one Secret, never values; the pods run as the image's
//! non-root user with a read-only root filesystem and no capabilities.
//!
//! The manifests are built as JSON values and written as YAML by [`yaml`], one file per object.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::image::{PORT, UID};
use crate::ir::Ir;
use crate::model::CredentialSource;

/// How the flow runs in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// `serve`, always on: a Deployment and a Service, probed on `/healthz` and `/readyz`.
    Service,
    /// `run` on a schedule: a CronJob.
    CronJob {
        /// Five-field cron expression.
        schedule: String,
        /// An IANA time zone (`Europe/Berlin`); the cluster's (UTC, usually) when `None`.
        time_zone: Option<String>,
    },
    /// `run` once: a Job.
    Job,
}

/// Options of [`manifests`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The image reference; `<id>:latest` (the name `flowc image` gives it) by default.
    pub image: Option<String>,
    /// Serve the flow over HTTP (a Deployment and a Service) rather than run it once.
    pub serve: bool,
}

/// The workload of a flow: the one place that decides it.
///
/// A flow with a `webhook` (or `--serve`) is a service. A flow with a `schedule` is a CronJob
/// that runs it at each time, unless its cron expression has seconds, which a CronJob cannot
/// express: then it is a service too, and `serve` fires the schedule in-process. Any other
/// flow is a Job.
pub fn workload(ir: &Ir, serve: bool) -> Workload {
    use crate::nodes::Trigger;
    let triggers: Vec<Trigger<'_>> = ir.nodes().iter().filter_map(|n| n.config.trigger()).collect();
    let schedule = triggers.iter().find_map(|t| match *t {
        Trigger::Schedule { cron, timezone } => Some((cron, timezone)),
        Trigger::Webhook => None,
    });
    let webhook = triggers.contains(&Trigger::Webhook);
    match schedule {
        _ if serve || webhook => Workload::Service,
        Some((cron, timezone)) if cron.starts_with('@') || cron.split_whitespace().count() == 5 => {
            Workload::CronJob { schedule: cron.to_owned(), time_zone: (timezone != "UTC").then(|| timezone.to_owned()) }
        }
        Some(_) => Workload::Service,
        None => Workload::Job,
    }
}

/// Where a Job's or CronJob's input is mounted (from the ConfigMap `<name>-input`).
pub const INPUT_DIR: &str = "/etc/flowc";

/// The manifests, by file name (`deployment.yaml`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifests {
    pub workload: Workload,
    /// The Kubernetes name of every object (the flow id as a DNS label).
    pub name: String,
    /// The Secret the credentials are read from, if the flow has credentials.
    pub secret: Option<String>,
    /// Each credential's name and its key in the Secret.
    pub secret_keys: Vec<(String, String)>,
    /// The ConfigMap the parameters are read from, if the flow has parameters, and the
    /// variables of the required ones (no default: empty in it until someone fills them in).
    pub parameters: Option<(String, Vec<String>)>,
    pub files: BTreeMap<PathBuf, String>,
}

impl Manifests {
    /// Writes every file under `dir` (created if needed), and removes the manifests of another
    /// workload that an earlier run wrote there (so that `kubectl apply -f DIR` applies only
    /// these).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for file in FILES {
            let path = dir.join(file);
            if !self.files.contains_key(Path::new(file)) && path.is_file() {
                std::fs::remove_file(path)?;
            }
        }
        for (path, text) in &self.files {
            std::fs::write(dir.join(path), text)?;
        }
        Ok(())
    }
}

/// Every file name [`render`] can write.
const FILES: &[&str] =
    &["configmap.yaml", "cronjob.yaml", "deployment.yaml", "job.yaml", "parameters.yaml", "service.yaml"];

/// What [`render`] needs of a flow.
#[derive(Debug, Clone)]
pub struct Flow<'a> {
    pub id: &'a str,
    pub credentials: &'a [crate::model::Credential],
    pub parameters: &'a [crate::model::Parameter],
    /// The `input` node's schema, if any (the Job's example input follows it).
    pub input_schema: Option<&'a Value>,
    /// SHA-256 (hex) of the flow document.
    pub flow_sha256: &'a str,
    /// The flow's `settings.timeout_ms` (a Job's deadline).
    pub timeout_ms: Option<u64>,
}

impl<'a> Flow<'a> {
    pub fn of(ir: &'a Ir, flow_sha256: &'a str) -> Flow<'a> {
        Flow {
            id: &ir.id,
            credentials: &ir.credentials,
            parameters: &ir.parameters,
            input_schema: ir.input_schema(),
            flow_sha256,
            timeout_ms: ir.settings.timeout_ms,
        }
    }
}

/// The flow's id as a Kubernetes object name: a DNS label of at most 52 characters (a CronJob's
/// limit, so that its Jobs' names fit), `_` becoming `-`.
pub fn object_name(id: &str) -> String {
    let name: String = id.chars().map(|c| if c == '_' { '-' } else { c }).take(52).collect();
    name.trim_end_matches('-').to_owned()
}

/// A credential name as a Secret key (`[-._a-zA-Z0-9]+`): other characters become `_`.
fn secret_key(name: &str) -> String {
    let key: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "-._".contains(c) { c } else { '_' }).collect();
    if key.is_empty() || key == "." || key == ".." {
        format!("credential{key}")
    } else {
        key
    }
}

/// The manifests of a flow for a workload.
pub fn render(flow: &Flow, workload: &Workload, options: &Options) -> Manifests {
    let name = object_name(flow.id);
    let image = options.image.clone().unwrap_or_else(|| format!("{}:latest", flow.id));
    let labels = json!({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/managed-by": "flowc",
    });
    let annotations = json!({
        "dev.flowc.version": env!("CARGO_PKG_VERSION"),
        "dev.flowc.flow-sha256": flow.flow_sha256,
    });
    let metadata = |name: &str| json!({"name": name, "labels": labels, "annotations": annotations});

    // Credentials: one Secret, a key per credential (named after it); environment variables
    // from it, files mounted from it.
    let secret = format!("{name}-credentials");
    let mut keys: Vec<String> = Vec::new();
    let mut secret_keys = Vec::new();
    let mut env = Vec::new();
    let mut mounts = vec![json!({"name": "tmp", "mountPath": "/tmp"})];
    let mut secret_items = Vec::new();
    let mut mounted: Vec<String> = Vec::new();
    // An OAuth2 credential has a key per secret it reads (`crm.client_secret`).
    let sources = flow.credentials.iter().flat_map(|c| {
        c.source.secrets().into_iter().map(move |(part, source)| match part {
            "" => (c.name.clone(), source),
            part => (format!("{}.{part}", c.name), source),
        })
    });
    for (credential_name, source) in sources {
        let mut key = secret_key(&credential_name);
        let base = key.clone();
        let mut n = 2;
        while keys.contains(&key) {
            key = format!("{base}-{n}");
            n += 1;
        }
        keys.push(key.clone());
        secret_keys.push((credential_name, key.clone()));
        match source {
            CredentialSource::OAuth2(_) => {}
            CredentialSource::Env(var) => env.push(json!({
                "name": var,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
            })),
            CredentialSource::File(path) => {
                let path = if path.starts_with('/') { path.clone() } else { format!("/home/nonroot/{path}") };
                if mounted.contains(&path) {
                    continue;
                }
                mounted.push(path.clone());
                secret_items.push(json!({"key": key, "path": key}));
                mounts.push(json!({"name": "credentials", "mountPath": path, "subPath": key, "readOnly": true}));
            }
        }
    }
    let mut volumes = vec![json!({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}})];
    if !secret_items.is_empty() {
        volumes.push(json!({
            "name": "credentials",
            "secret": {"secretName": secret, "items": secret_items, "defaultMode": 0o440},
        }));
    }
    let one_shot = !matches!(workload, Workload::Service);
    if one_shot {
        mounts.push(json!({"name": "input", "mountPath": INPUT_DIR, "readOnly": true}));
        volumes.push(json!({"name": "input", "configMap": {"name": format!("{name}-input")}}));
    }

    let args: Vec<String> = match workload {
        Workload::Service => vec!["serve".into(), "--addr".into(), format!("0.0.0.0:{PORT}")],
        Workload::CronJob { .. } | Workload::Job => {
            vec!["run".into(), "--input".into(), format!("{INPUT_DIR}/input.json")]
        }
    };
    let mut container = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
    });
    if !env.is_empty() {
        container["env"] = Value::Array(env);
    }
    // Parameters: one ConfigMap, a key per variable (its default, or empty where there is
    // none, which the program refuses at start-up until it is filled in).
    let parameters_map = format!("{name}-parameters");
    if !flow.parameters.is_empty() {
        container["envFrom"] = json!([{"configMapRef": {"name": parameters_map}}]);
    }
    if let Workload::Service = workload {
        container["ports"] = json!([{"name": "http", "containerPort": PORT, "protocol": "TCP"}]);
        container["livenessProbe"] = json!({
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 1, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3,
        });
        container["readinessProbe"] = json!({
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2,
        });
    }
    // A flow's program is a few MB and idles at about 10 MB; fan-out and large responses need
    // more, so the limit leaves room.
    container["resources"] = json!({
        "requests": {"cpu": "50m", "memory": "32Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    });
    container["securityContext"] = json!({
        "runAsNonRoot": true,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    });
    container["volumeMounts"] = Value::Array(mounts);
    let mut pod = json!({
        "automountServiceAccountToken": false,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    });
    if one_shot {
        // The flow retries its own nodes; a failed run is reported, not started again (it may
        // have had side effects).
        pod["restartPolicy"] = json!("Never");
    }
    let pod_template = json!({"metadata": {"labels": labels}, "spec": pod});
    let mut job_spec = serde_json::Map::new();
    job_spec.insert("backoffLimit".into(), json!(0));
    if let Some(ms) = flow.timeout_ms {
        // The flow's own deadline plus a minute for start-up and the result.
        job_spec.insert("activeDeadlineSeconds".into(), json!(ms.div_ceil(1000) + 60));
    }
    job_spec.insert("ttlSecondsAfterFinished".into(), json!(86_400));
    job_spec.insert("template".into(), pod_template.clone());
    let job_spec = Value::Object(job_spec);

    let mut files = BTreeMap::new();
    let mut put = |file: &str, value: Value| {
        files.insert(PathBuf::from(file), yaml(&value));
    };
    match workload {
        Workload::Service => {
            put(
                "deployment.yaml",
                json!({
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": metadata(&name),
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                        "template": pod_template,
                    },
                }),
            );
            put(
                "service.yaml",
                json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": metadata(&name),
                    "spec": {
                        "selector": {"app.kubernetes.io/name": name},
                        "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
                    },
                }),
            );
        }
        Workload::CronJob { schedule, time_zone } => {
            let mut spec = json!({"schedule": schedule});
            if let Some(zone) = time_zone {
                spec["timeZone"] = json!(zone);
            }
            let rest = json!({
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 300,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"metadata": {"labels": labels}, "spec": job_spec},
            });
            if let (Value::Object(spec), Value::Object(rest)) = (&mut spec, rest) {
                spec.extend(rest);
            }
            put(
                "cronjob.yaml",
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata(&name), "spec": spec}),
            );
        }
        Workload::Job => put(
            "job.yaml",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(&name), "spec": job_spec}),
        ),
    }
    if one_shot {
        let input = flow.input_schema.map(crate::project::example_for).unwrap_or_else(|| json!({}));
        let text = serde_json::to_string_pretty(&input).unwrap_or_default() + "\n";
        put(
            "configmap.yaml",
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata(&format!("{name}-input")),
                "data": {"input.json": text},
            }),
        );
    }
    let parameters = (!flow.parameters.is_empty()).then(|| {
        let data: serde_json::Map<String, Value> = flow
            .parameters
            .iter()
            .map(|p| (p.env.clone(), Value::from(p.default.clone().unwrap_or_default())))
            .collect();
        put(
            "parameters.yaml",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(&parameters_map), "data": data}),
        );
        let required = flow.parameters.iter().filter(|p| p.default.is_none()).map(|p| p.env.clone()).collect();
        (parameters_map, required)
    });
    let secret = (!flow.credentials.is_empty()).then_some(secret);
    Manifests { workload: workload.clone(), name, secret, secret_keys, parameters, files }
}

/// A JSON value as a YAML document, in block style. A string is written plain when no YAML
/// reader can take it for anything else (`batch/v1`, `shop-sync`, `RuntimeDefault`), double-quoted
/// otherwise (JSON's string syntax is YAML's double-quoted style): `"1"`, `"true"`, `"256Mi"`.
/// In a quoted string every character YAML does not take raw (DEL, C1 controls, U+2028 and
/// U+2029, which YAML 1.1 reads as line breaks, the BOM) is a `\u` escape.
pub fn yaml(value: &Value) -> String {
    let mut out = String::new();
    block(value, 0, &mut out);
    out
}

/// Whether a string reads back as the same string when written plain, in YAML 1.1 and 1.2.
fn plain_safe(text: &str) -> bool {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !WORDS.contains(&text.to_ascii_lowercase().as_str())
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::String(text) if plain_safe(text) => text.clone(),
        Value::String(text) => crate::escape::json_string(text),
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// A key: plain when it is made of safe characters, quoted otherwise.
fn key(text: &str) -> String {
    if plain_safe(text) {
        text.to_owned()
    } else {
        crate::escape::json_string(text)
    }
}

fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let k = key(k);
                // An implicit key is at most 1024 characters: a longer one is explicit (`? key`).
                let explicit = k.chars().count() > 1000;
                let head = if explicit { format!("{pad}? {k}\n{pad}:") } else { format!("{pad}{k}:") };
                if is_block(v) {
                    out.push_str(&head);
                    out.push('\n');
                    // Sequences under a key are not indented further (the common style).
                    let inner = if v.is_array() && !explicit { indent } else { indent + 2 };
                    block(v, inner, out);
                } else {
                    out.push_str(&format!("{head} {}\n", scalar(v)));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if is_block(item) {
                    // The first line of the item goes after the dash.
                    let mut inner = String::new();
                    block(item, indent + 2, &mut inner);
                    let rest = inner.get(indent + 2..).unwrap_or_default();
                    out.push_str(&format!("{pad}- {rest}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Credential;

    fn flow<'a>(credentials: &'a [Credential], schema: Option<&'a Value>) -> Flow<'a> {
        Flow {
            id: "nightly_report",
            credentials,
            parameters: &[],
            input_schema: schema,
            flow_sha256: "ab12",
            timeout_ms: Some(90_500),
        }
    }

    /// YAML that is also JSON-compatible enough to check by reading it back: every test here
    /// parses the output with a small reader of this block style.
    fn parse(text: &str) -> Value {
        fn value_of(text: &str) -> Value {
            serde_json::from_str(text).unwrap_or_else(|_| {
                assert!(plain_safe(text), "{text:?} is neither JSON nor a plain string");
                Value::from(text)
            })
        }
        fn indent_of(line: &str) -> usize {
            line.len() - line.trim_start().len()
        }
        fn node(lines: &[&str], at: &mut usize, indent: usize) -> Value {
            let first = lines[*at];
            if first[indent..].starts_with("- ") {
                let mut items = Vec::new();
                while *at < lines.len() && indent_of(lines[*at]) == indent && lines[*at][indent..].starts_with("- ") {
                    let rest = &lines[*at][indent + 2..];
                    if rest.contains(": ") || rest.ends_with(':') {
                        // A mapping whose first line follows the dash.
                        let mut owned: Vec<String> = vec![format!("{}{rest}", " ".repeat(indent + 2))];
                        *at += 1;
                        while *at < lines.len() && indent_of(lines[*at]) > indent {
                            owned.push(lines[*at].to_owned());
                            *at += 1;
                        }
                        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                        items.push(node(&refs, &mut 0, indent + 2));
                    } else {
                        items.push(value_of(rest));
                        *at += 1;
                    }
                }
                return Value::Array(items);
            }
            let mut map = serde_json::Map::new();
            while *at < lines.len() && indent_of(lines[*at]) == indent && !lines[*at][indent..].starts_with("- ") {
                let line = &lines[*at][indent..];
                let (k, v) = match line.strip_suffix(':') {
                    Some(k) => (k, None),
                    None => {
                        let (k, v) = line.split_once(": ").unwrap_or_else(|| panic!("no key in {line:?}"));
                        (k, Some(v))
                    }
                };
                let k = if k.starts_with('"') { value_of(k).as_str().unwrap().to_owned() } else { k.to_owned() };
                *at += 1;
                let v = match v {
                    Some(v) => value_of(v),
                    None => {
                        let next = indent_of(lines[*at]);
                        node(lines, at, next)
                    }
                };
                map.insert(k, v);
            }
            Value::Object(map)
        }
        let lines: Vec<&str> = text.lines().collect();
        node(&lines, &mut 0, 0)
    }

    #[test]
    fn yaml_reads_back_as_the_same_value() {
        let value = json!({
            "a": 1, "b": "two: 2", "true": "yes", "list": [1, "x", {"k": [], "m": {}}],
            "nested": {"deep": {"s": "line\nbreak", "n": null, "q": "0755"}},
            "weird key": true, "objs": [{"a": 1, "b": {"c": [1]}}, {"z": false}],
        });
        let text = yaml(&value);
        assert_eq!(parse(&text), value, "{text}");
        assert!(text.contains("\"weird key\": true\n") && text.contains("q: \"0755\"\n"), "{text}");
        assert!(text.contains("\"true\": \"yes\"\n"), "{text}");
        assert!(text.contains("- x\n"), "{text}");
        for word in ["yes", "No", "true", "null", "1", "-x", "a b", "1e3", "0x1f", ""] {
            assert!(!plain_safe(word), "{word:?} must be quoted");
        }
        for word in ["batch/v1", "shop-sync", "/etc/flowc/input.json", "RuntimeDefault"] {
            assert!(plain_safe(word), "{word:?} can be plain");
        }
    }

    #[test]
    fn a_cron_job_runs_the_flow_on_its_schedule_with_its_time_zone() {
        let credentials = vec![
            Credential { name: "api".into(), source: CredentialSource::Env("API_TOKEN".into()) },
            Credential { name: "shop key".into(), source: CredentialSource::File("/run/secrets/shop".into()) },
        ];
        let schema = json!({"type": "object", "required": ["day"], "properties": {"day": {"type": "string"}}});
        let workload = Workload::CronJob { schedule: "30 6 * * 1-5".into(), time_zone: Some("Europe/Berlin".into()) };
        let manifests = render(&flow(&credentials, Some(&schema)), &workload, &Options::default());
        assert_eq!(manifests.name, "nightly-report");
        assert_eq!(manifests.secret.as_deref(), Some("nightly-report-credentials"));
        let names: Vec<_> = manifests.files.keys().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["configmap.yaml", "cronjob.yaml"]);

        let cron = parse(&manifests.files[Path::new("cronjob.yaml")]);
        assert_eq!(cron["apiVersion"], "batch/v1");
        assert_eq!(cron["kind"], "CronJob");
        assert_eq!(cron["metadata"]["name"], "nightly-report");
        assert_eq!(cron["metadata"]["annotations"]["dev.flowc.flow-sha256"], "ab12");
        assert_eq!(cron["spec"]["schedule"], "30 6 * * 1-5");
        assert_eq!(cron["spec"]["timeZone"], "Europe/Berlin");
        assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
        let job = &cron["spec"]["jobTemplate"]["spec"];
        assert_eq!(job["backoffLimit"], 0);
        assert_eq!(job["activeDeadlineSeconds"], 91 + 60);
        let pod = &job["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let container = &pod["containers"][0];
        assert_eq!(container["image"], "nightly_report:latest");
        assert_eq!(container["args"], json!(["run", "--input", "/etc/flowc/input.json"]));
        assert_eq!(
            container["env"],
            json!([{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "nightly-report-credentials", "key": "api"}}}])
        );
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(container["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        assert!(container.get("livenessProbe").is_none() && container.get("ports").is_none());
        let mounts = container["volumeMounts"].as_array().unwrap();
        assert!(mounts.contains(
            &json!({"name": "credentials", "mountPath": "/run/secrets/shop", "subPath": "shop_key", "readOnly": true})
        ));
        assert!(mounts.contains(&json!({"name": "input", "mountPath": "/etc/flowc", "readOnly": true})));
        let volumes = pod["volumes"].as_array().unwrap();
        assert!(volumes.contains(&json!({"name": "credentials", "secret": {"secretName": "nightly-report-credentials", "items": [{"key": "shop_key", "path": "shop_key"}], "defaultMode": 288}})));

        let config = parse(&manifests.files[Path::new("configmap.yaml")]);
        assert_eq!(config["metadata"]["name"], "nightly-report-input");
        let input: Value = serde_json::from_str(config["data"]["input.json"].as_str().unwrap()).unwrap();
        assert_eq!(input, json!({"day": "text"}));

        // Without a time zone, the field is left out (the cluster's zone applies).
        let utc = Workload::CronJob { schedule: "@hourly".into(), time_zone: None };
        let manifests = render(&flow(&[], None), &utc, &Options { image: Some("r.example/x:1".into()), serve: false });
        let cron = parse(&manifests.files[Path::new("cronjob.yaml")]);
        assert!(cron["spec"].get("timeZone").is_none());
        assert_eq!(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"], "r.example/x:1");
        assert_eq!(manifests.secret, None);
    }

    #[test]
    fn a_service_is_probed_and_a_job_is_not() {
        let service = render(&flow(&[], None), &Workload::Service, &Options::default());
        let names: Vec<_> = service.files.keys().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["deployment.yaml", "service.yaml"]);
        let deployment = parse(&service.files[Path::new("deployment.yaml")]);
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["args"], json!(["serve", "--addr", "0.0.0.0:8080"]));
        assert_eq!(container["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "http"}));
        assert_eq!(container["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "http"}));
        assert!(deployment["spec"]["template"]["spec"].get("restartPolicy").is_none());
        let svc = parse(&service.files[Path::new("service.yaml")]);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");

        let job = render(&flow(&[], None), &Workload::Job, &Options::default());
        let names: Vec<_> = job.files.keys().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["configmap.yaml", "job.yaml"]);
    }

    #[test]
    fn names_are_dns_labels_and_secret_keys_are_unique() {
        assert_eq!(object_name("a_b-c"), "a-b-c");
        assert_eq!(object_name(&"x".repeat(64)).len(), 52);
        assert_eq!(object_name(&format!("{}_y", "x".repeat(51))), "x".repeat(51));
        let credentials = vec![
            Credential { name: "a b".into(), source: CredentialSource::Env("A".into()) },
            Credential { name: "a_b".into(), source: CredentialSource::Env("B".into()) },
        ];
        let manifests = render(&flow(&credentials, None), &Workload::Job, &Options::default());
        let job = parse(&manifests.files[Path::new("job.yaml")]);
        let env = &job["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["valueFrom"]["secretKeyRef"]["key"], "a_b");
        assert_eq!(env[1]["valueFrom"]["secretKeyRef"]["key"], "a_b-2");
    }
}
