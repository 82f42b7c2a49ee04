//! OAuth2 credentials: an access token fetched with the `client_credentials` or `refresh_token`
//! grant, shared by every node and run of the process.
//!
//! The `oauth2` crate builds the token requests and reads the answers (RFC 6749 §4.4, §6 and
//! §5.2 errors); the requests go through the runtime's own reqwest client, without following
//! redirects (a token request carries the client secret), refused private addresses when
//! the flow denies them, and an answer read up to [`MAX_ANSWER_BYTES`]. (`oauth2`'s own reqwest
//! support is for reqwest 0.12; the runtime is on 0.13.)
//!
//! One token per credential: the first node that needs it fetches it while the others wait
//! (an async mutex per credential), and it is fetched again shortly before it expires, or
//! once after an API answered 401 to it (the scheduler calls [`invalidate`]). A rotated
//! refresh token is kept, and written back to its file source atomically, so a restart
//! keeps working. Tokens and secrets are never put in messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ::oauth2::basic::{BasicClient, BasicErrorResponseType};
use ::oauth2::{
    AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse, RefreshToken, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};

use crate::credentials::Source;
use crate::error::{Error, ErrorKind};
use crate::http::Http;

/// The largest token endpoint answer read.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// How long one token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a token is refreshed before it expires; a short-lived token is refreshed when
/// a tenth of its life is left.
const MAX_MARGIN: Duration = Duration::from_secs(60);

/// An OAuth2 credential, as the flow declares it.
#[derive(Debug)]
pub struct OAuth2 {
    pub grant: Grant,
    /// The token endpoint, rendered from literals and parameters.
    pub token_url: fn() -> String,
    pub client_id: Source,
    pub client_secret: Option<Source>,
    /// With the `refresh_token` grant.
    pub refresh_token: Option<Source>,
    pub scopes: &'static [&'static str],
    /// Sent as the `audience` parameter of the token request.
    pub audience: Option<&'static str>,
    pub client_auth: ClientAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials,
    RefreshToken,
}

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1, the default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// A token in use: what [`access_token`] gave, to name it to [`invalidate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issued {
    pub credential: &'static str,
    generation: u64,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// Counts the tokens fetched, so a stale 401 does not throw away a newer token.
    generation: u64,
    /// The refresh token the endpoint rotated to, once it has.
    refresh_token: Option<String>,
}

struct Token {
    access: String,
    /// When it must be fetched again; `None`: when an API refuses it.
    refresh_at: Option<Instant>,
}

type States = Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<State>>>>;

fn state(credential: &'static str) -> Arc<tokio::sync::Mutex<State>> {
    static STATES: OnceLock<States> = OnceLock::new();
    let states = STATES.get_or_init(Default::default);
    states.lock().unwrap_or_else(|e| e.into_inner()).entry(credential).or_default().clone()
}

/// The access token of `credential`: the one held while it is fresh, else a new one. Nodes
/// that ask while it is being fetched wait for that fetch.
pub async fn access_token(credential: &'static str, config: &OAuth2, http: &Http) -> Result<(String, Issued), Error> {
    let state = state(credential);
    let mut state = state.lock().await;
    if let Some(token) = state.token.as_ref().filter(|t| t.refresh_at.is_none_or(|at| Instant::now() < at)) {
        return Ok((token.access.clone(), Issued { credential, generation: state.generation }));
    }
    let fetched = fetch(credential, config, http, state.refresh_token.as_deref()).await?;
    if let Some(rotated) = fetched.rotated {
        // The old refresh token may be spent already: the new one is kept whatever happens to
        // the file, and the node goes on with its access token.
        if let Some(Source::File(path)) = config.refresh_token {
            if let Err(error) = write_atomically(path, &rotated) {
                eprintln!(
                    "warning: credential `{credential}`: the token endpoint rotated the refresh token, and it cannot be written to {path} ({error}); it is kept in memory, so a restart needs a new one"
                );
            }
        }
        state.refresh_token = Some(rotated);
    }
    state.generation += 1;
    let refresh_at = fetched.expires_in.map(|life| Instant::now() + life - (life / 10).min(MAX_MARGIN));
    state.token = Some(Token { access: fetched.access.clone(), refresh_at });
    Ok((fetched.access, Issued { credential, generation: state.generation }))
}

/// Drops the token an API refused, unless a newer one was fetched since: the next
/// [`access_token`] fetches again.
pub async fn invalidate(issued: Issued) {
    let state = state(issued.credential);
    let mut state = state.lock().await;
    if state.generation == issued.generation {
        state.token = None;
    }
}

struct Fetched {
    access: String,
    expires_in: Option<Duration>,
    /// A refresh token that differs from the one sent.
    rotated: Option<String>,
}

async fn fetch(
    credential: &'static str,
    config: &OAuth2,
    http: &Http,
    rotated: Option<&str>,
) -> Result<Fetched, Error> {
    let token_url = (config.token_url)();
    let parsed =
        reqwest::Url::parse(&token_url).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
            Error::config(format!(
                "credential `{credential}`: the token URL `{}` is not an http or https URL",
                crate::http::clip(&token_url, 200)
            ))
            .with_code("oauth2_token_url")
        })?;
    http.check_destination(&parsed)?;
    let client_id = config.client_id.read(credential, "client_id")?;
    let mut client = BasicClient::new(ClientId::new(client_id))
        .set_token_uri(TokenUrl::from_url(parsed))
        .set_auth_type(match config.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Body => AuthType::RequestBody,
        });
    if let Some(secret) = &config.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.read(credential, "client_secret")?));
    }
    // Owned by the closure's futures: a future that borrows would not be `Send` for every
    // lifetime, which the server's handlers need.
    let status = Arc::new(Mutex::new(None));
    let direct = http.direct().clone();
    let send = |request: HttpRequest| send(direct.clone(), request, status.clone());
    let scopes = config.scopes.iter().map(|s| Scope::new((*s).to_owned()));
    let (answer, sent_refresh) = match config.grant {
        Grant::ClientCredentials => {
            let mut request = client.exchange_client_credentials().add_scopes(scopes);
            if let Some(audience) = config.audience {
                request = request.add_extra_param("audience", audience);
            }
            (request.request_async(&send).await, None)
        }
        Grant::RefreshToken => {
            let refresh = match rotated {
                Some(rotated) => rotated.to_owned(),
                None => match &config.refresh_token {
                    Some(source) => source.read(credential, "refresh_token")?,
                    None => return Err(Error::config(format!("credential `{credential}` has no refresh_token"))),
                },
            };
            let token = RefreshToken::new(refresh.clone());
            let mut request = client.exchange_refresh_token(&token).add_scopes(scopes);
            if let Some(audience) = config.audience {
                request = request.add_extra_param("audience", audience);
            }
            (request.request_async(&send).await, Some(refresh))
        }
    };
    let (status, retry_after) = status.lock().unwrap_or_else(|e| e.into_inner()).unzip();
    let answer = answer.map_err(|e| token_error(credential, status, retry_after.flatten(), e))?;
    let rotated = answer
        .refresh_token()
        .map(|t| t.secret().clone())
        .filter(|new| sent_refresh.as_deref().is_some_and(|sent| sent != new));
    Ok(Fetched { access: answer.access_token().secret().clone(), expires_in: answer.expires_in(), rotated })
}

/// The status and `Retry-After` of the token endpoint's answer, once it came.
type Answered = Arc<Mutex<Option<(u16, Option<Duration>)>>>;

/// One token request, through the runtime's client: no redirects, the answer read up to
/// [`MAX_ANSWER_BYTES`]. Records the status and `Retry-After`, which say what a failure means.
async fn send(client: reqwest::Client, request: HttpRequest, status: Answered) -> Result<HttpResponse, Error> {
    let (parts, body) = request.into_parts();
    let url = reqwest::Url::parse(&parts.uri.to_string()).map_err(|e| Error::config(format!("token URL: {e}")))?;
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .map_err(|e| Error::config(format!("token request: {e}")))?;
    let mut builder = client.request(method, url).timeout(TOKEN_TIMEOUT).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let mut response = builder.send().await.map_err(|e| crate::http::transport_error("the token endpoint", &e))?;
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::parse_retry_after);
    *status.lock().unwrap_or_else(|e| e.into_inner()) = Some((response.status().as_u16(), retry_after));
    let mut answer = ::oauth2::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        answer = answer.header(name.as_str(), value.as_bytes());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| crate::http::transport_error("the token endpoint", &e))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Error::new(
                ErrorKind::ServerError,
                format!("the token endpoint's answer is over {MAX_ANSWER_BYTES} bytes"),
            )
            .with_code("oauth2_bad_response"));
        }
        bytes.extend_from_slice(&chunk);
    }
    answer.body(bytes).map_err(|e| Error::new(ErrorKind::ServerError, format!("token answer: {e}")))
}

/// What a failed token request means, by the endpoint's status and answer. The message names
/// the credential and the OAuth2 error code, never a secret or the answer's body.
fn token_error(
    credential: &str,
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: RequestTokenError<Error, ::oauth2::basic::BasicErrorResponse>,
) -> Error {
    let said = |status: Option<u16>| status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    match (status, error) {
        (_, RequestTokenError::Request(mut error)) => {
            error.message = format!("credential `{credential}`: {}", error.message);
            error.with_code("oauth2_unavailable")
        }
        (Some(status), _) if status >= 500 || status == 429 => {
            let kind = if status == 429 { ErrorKind::RateLimit } else { ErrorKind::ServerError };
            Error::new(kind, format!("credential `{credential}`: the token endpoint failed{}", said(Some(status))))
                .with_code("oauth2_unavailable")
                .with_status(status)
                .with_retry_after(retry_after)
        }
        (_, RequestTokenError::ServerResponse(answer)) => {
            let code = answer.error();
            let kind = match code {
                BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::InvalidGrant
                | BasicErrorResponseType::UnauthorizedClient => ErrorKind::Permission,
                _ => ErrorKind::ClientError,
            };
            let description = answer
                .error_description()
                .map(|d| format!(": {}", crate::http::clip(&d.replace(['\r', '\n'], " "), 200)))
                .unwrap_or_default();
            let mut error = Error::new(
                kind,
                format!(
                    "credential `{credential}`: the token endpoint refused the request{}: {code}{description}",
                    said(status)
                ),
            )
            .with_code("oauth2_rejected");
            error.retryable = false;
            error.status = status;
            error
        }
        (_, RequestTokenError::Parse(..)) | (_, RequestTokenError::Other(_)) => Error::new(
            ErrorKind::ServerError,
            format!(
                "credential `{credential}`: the token endpoint's answer is not an OAuth2 token answer{}",
                said(status)
            ),
        )
        .with_code("oauth2_bad_response"),
    }
}

/// Replaces the file's contents all at once: a temporary file beside it, synced, renamed over
/// it, with the old file's permissions.
fn write_atomically(path: &str, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let target = std::path::Path::new(path);
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        if let Ok(old) = std::fs::metadata(target) {
            file.set_permissions(old.permissions())?;
        }
        file.write_all(contents.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_token_replaces_the_file_whole_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("flowc-oauth2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("refresh");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomically(path.to_str().unwrap(), "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
