//! The `apify_actor` node: run an Apify actor and read its dataset, after Apify's API v2
//! reference: start a run (`POST /v2/acts/{user~name}/runs`), poll it
//! (`GET /v2/actor-runs/{id}`) until it ends, read the items
//! (`GET /v2/datasets/{id}/items`), and abort a run that outlives `timeout_secs`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::{Error, ErrorKind};
use crate::flow::Output;
use crate::http::{Body, Http, Request};

/// The statuses a run ends in.
const TERMINAL: &[&str] = &["SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT"];

/// One actor run, as an `apify_actor` node's config compiles to.
#[derive(Debug, Clone, Default)]
pub struct ActorRun {
    pub base_url: String,
    /// `user/name`, `user~name` or an actor id.
    pub actor_id: String,
    pub input: Value,
    pub max_items: u64,
    pub timeout_secs: u64,
    pub api_key: Option<String>,
}

impl ActorRun {
    fn request(&self, method: &'static str, path: String, body: Body) -> Request {
        Request::api(method, format!("{}{path}", self.base_url.trim_end_matches('/')), body, self.api_key.clone())
    }

    /// Asks Apify to abort a run, best effort.
    async fn abort(&self, http: &Http, run_id: &str) {
        let _ = http.send(self.request("POST", format!("/v2/actor-runs/{run_id}/abort"), Body::Empty)).await;
    }

    /// Runs the actor to its end. Output `data`: `{run_id, status, items}`; `metadata`: the run
    /// and dataset ids. A run that fails, is aborted or times out on Apify's side is an error
    /// that names the run; one that outlives `timeout_secs` is aborted and is a `timeout`.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        // The API takes `user~name`: a `/` would split the path.
        let actor = self.actor_id.replace('/', "~");
        let started = http
            .send(self.request("POST", format!("/v2/acts/{actor}/runs"), Body::Json(self.input.clone())))
            .await
            .map_err(api_error)?;
        let run = &started["body"]["data"];
        let Some(run_id) = run["id"].as_str().map(str::to_owned) else {
            return Err(Error::validation("Apify started a run but its answer has no `data.id`")
                .with_code("invalid_run")
                .with_data(started.clone()));
        };
        let mut status = run["status"].as_str().unwrap_or("READY").to_owned();
        let mut dataset = run["defaultDatasetId"].as_str().map(str::to_owned);
        let deadline = Instant::now() + Duration::from_secs(self.timeout_secs);
        let mut wait = Duration::from_millis(200);
        while !TERMINAL.contains(&status.as_str()) {
            if Instant::now() >= deadline {
                // Best effort: the run is reported as timed out whether or not the abort lands.
                self.abort(http, &run_id).await;
                return Err(Error::timeout(format!(
                    "actor {} run {run_id} did not finish within {} s and was aborted",
                    self.actor_id, self.timeout_secs
                ))
                .with_code("actor_timeout")
                .with_data(json!({"run_id": run_id, "status": status})));
            }
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
            wait = (wait * 3 / 2).min(Duration::from_secs(5));
            let poll = || self.request("GET", format!("/v2/actor-runs/{run_id}"), Body::Empty);
            let polled = match read_run(http, poll, deadline).await {
                Ok(polled) => polled,
                Err(error) => {
                    // We give up on this run: a retry of the node starts another, so stop it.
                    self.abort(http, &run_id).await;
                    let mut error = with_run(error, &run_id, &status);
                    error.message.push_str(" (the run was aborted)");
                    return Err(error);
                }
            };
            let run = &polled["body"]["data"];
            status = run["status"].as_str().unwrap_or(&status).to_owned();
            if let Some(id) = run["defaultDatasetId"].as_str() {
                dataset = Some(id.to_owned());
            }
        }
        if status != "SUCCEEDED" {
            let kind = if status == "TIMED-OUT" { ErrorKind::Timeout } else { ErrorKind::ServerError };
            return Err(Error::new(kind, format!("actor {} run {run_id} ended {status}", self.actor_id))
                .with_code(format!("actor_{}", status.to_lowercase().replace('-', "_")))
                .with_data(json!({"run_id": run_id, "status": status})));
        }
        let Some(dataset) = dataset else {
            return Err(Error::validation(format!("run {run_id} succeeded but has no default dataset"))
                .with_data(json!({"run_id": run_id, "status": status})));
        };
        let read = || {
            let mut read = self.request("GET", format!("/v2/datasets/{dataset}/items"), Body::Empty);
            read.query = vec![
                ("format", "json".to_owned()),
                ("clean", "true".to_owned()),
                ("limit", self.max_items.to_string()),
            ];
            read
        };
        // The run is done; its items stay readable for a while, so a slow answer gets time.
        let items_deadline = Instant::now() + Duration::from_secs(60);
        let items = read_run(http, read, items_deadline).await.map_err(|e| {
            with_run(e, &run_id, &status).with_data(json!({"run_id": run_id, "status": status, "dataset_id": dataset}))
        })?["body"]
            .take();
        if !items.is_array() {
            return Err(Error::validation(format!("the items of dataset {dataset} are not an array"))
                .with_code("invalid_items")
                .with_data(json!({"run_id": run_id, "status": status, "items": items})));
        }
        Ok(Output::data(json!({"run_id": run_id, "status": status, "items": items}))
            .with_metadata("actor_id", Value::from(self.actor_id))
            .with_metadata("run_id", Value::from(run_id))
            .with_metadata("dataset_id", Value::from(dataset)))
    }
}

/// A GET about a run that exists (its status, its items), retried in place while the error
/// is transient and `deadline` allows: a node retry would start a whole new run and leave this
/// one behind. Waits follow `Retry-After`, or double from 0.1 s up to 5 s.
async fn read_run(http: &Http, request: impl Fn() -> Request, deadline: Instant) -> Result<Value, Error> {
    let mut wait = Duration::from_millis(100);
    loop {
        match http.send(request()).await.map_err(api_error) {
            Ok(answer) => return Ok(answer),
            Err(error) => {
                let pause = error.retry_after.unwrap_or(wait);
                if !error.retryable || Instant::now() + pause >= deadline {
                    return Err(error);
                }
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Names the run in an error that happened after it started, and keeps its id in `data`.
fn with_run(mut error: Error, run_id: &str, status: &str) -> Error {
    error.message = format!("run {run_id}: {}", error.message);
    error.with_data(json!({"run_id": run_id, "status": status}))
}

/// Apify's error body (`{"error": {"type", "message"}}`) becomes the message and code.
fn api_error(mut error: Error) -> Error {
    let Some(api) = error.data.as_ref().map(|d| d["body"]["error"].clone()) else { return error };
    if let Some(message) = api["message"].as_str() {
        error.message = format!("Apify: {message} (HTTP {})", error.status.unwrap_or_default());
    }
    if let Some(kind) = api["type"].as_str() {
        error.code = Some(kind.to_owned());
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_message_and_code() {
        let error = crate::http::status_error("POST x", 404, &Value::Null)
            .with_data(json!({"body": {"error": {"type": "record-not-found", "message": "Actor was not found"}}}));
        let error = api_error(error);
        assert_eq!(error.message, "Apify: Actor was not found (HTTP 404)");
        assert_eq!(error.code.as_deref(), Some("record-not-found"));
        assert_eq!(error.kind, ErrorKind::NotFound);
    }
}
