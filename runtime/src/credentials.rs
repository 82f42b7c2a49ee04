//! Credentials, resolved at run time from the environment or a file; never at compile time,
//! and never written into envelopes, events or logs.

use crate::error::{Error, ErrorKind};

/// Where a credential's secret comes from.
#[derive(Debug, Clone, Copy)]
pub enum CredentialSource {
    /// An environment variable.
    Env(&'static str),
    /// A file (a mounted secret); surrounding whitespace is trimmed.
    File(&'static str),
    /// An OAuth2 access token, fetched with the secrets it names.
    OAuth2(&'static crate::oauth2::OAuth2),
}

/// Where one secret comes from: an environment variable or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env(&'static str),
    /// Surrounding whitespace is trimmed.
    File(&'static str),
}

impl Source {
    /// Reads the secret. A missing variable or unreadable file is a `config` error that says
    /// what to set (`what`: "credential `api`", or "credential `crm`'s client_secret"); the
    /// message never holds the secret.
    pub fn read(&self, credential: &str, part: &str) -> Result<String, Error> {
        let what = match part {
            "" => format!("credential `{credential}`"),
            part => format!("the {part} of credential `{credential}`"),
        };
        let missing = |message: String| Err(Error::new(ErrorKind::Config, message).with_code("missing_credential"));
        match *self {
            Source::Env(var) => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(value),
                _ => missing(format!("{what} is not set: set the environment variable {var}")),
            },
            Source::File(path) => match std::fs::read_to_string(path) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                Ok(_) => missing(format!("{what}: the file {path} is empty")),
                Err(err) => missing(format!("{what}: cannot read {path}: {err}")),
            },
        }
    }

    fn describe(&self) -> serde_json::Value {
        match *self {
            Source::Env(var) => serde_json::json!({"env": var}),
            Source::File(path) => serde_json::json!({"file": path}),
        }
    }
}

/// A credential the flow declares under `credentials`.
#[derive(Debug, Clone, Copy)]
pub struct Credential {
    pub name: &'static str,
    pub source: CredentialSource,
}

impl Credential {
    /// Reads the secret of an `env` or `file` credential. An OAuth2 credential has no secret
    /// of its own to read here: its token is fetched ([`crate::oauth2::access_token`]), so this
    /// is a `config` error for it.
    pub fn resolve(&self) -> Result<String, Error> {
        match self.source {
            CredentialSource::Env(var) => Source::Env(var).read(self.name, ""),
            CredentialSource::File(path) => Source::File(path).read(self.name, ""),
            CredentialSource::OAuth2(_) => Err(Error::config(format!(
                "credential `{}` is an OAuth2 credential: it can authenticate requests, but it is no secret to compare or sign with",
                self.name
            ))
            .with_code("oauth2_not_a_secret")),
        }
    }

    /// Reads every secret the credential needs, without fetching anything (for `health`).
    pub fn check_sources(&self) -> Result<(), Error> {
        match self.source {
            CredentialSource::OAuth2(config) => {
                config.client_id.read(self.name, "client_id")?;
                if let Some(secret) = &config.client_secret {
                    secret.read(self.name, "client_secret")?;
                }
                if let Some(refresh) = &config.refresh_token {
                    refresh.read(self.name, "refresh_token")?;
                }
                Ok(())
            }
            _ => self.resolve().map(drop),
        }
    }

    /// How to describe the source without revealing anything: `env:VAR` or `file:/path`.
    pub fn describe(&self) -> serde_json::Value {
        match self.source {
            CredentialSource::Env(var) => serde_json::json!({"name": self.name, "env": var}),
            CredentialSource::File(path) => serde_json::json!({"name": self.name, "file": path}),
            CredentialSource::OAuth2(config) => {
                let mut oauth2 = serde_json::json!({
                    "grant": match config.grant {
                        crate::oauth2::Grant::ClientCredentials => "client_credentials",
                        crate::oauth2::Grant::RefreshToken => "refresh_token",
                    },
                    "token_url": (config.token_url)(),
                    "client_id": config.client_id.describe(),
                });
                if let Some(secret) = &config.client_secret {
                    oauth2["client_secret"] = secret.describe();
                }
                if let Some(refresh) = &config.refresh_token {
                    oauth2["refresh_token"] = refresh.describe();
                }
                serde_json::json!({"name": self.name, "oauth2": oauth2})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_trimmed_and_says_what_is_missing() {
        let path = std::env::temp_dir().join(format!("flowc-credential-{}", std::process::id()));
        std::fs::write(&path, "  s3cret\n").unwrap();
        let leaked: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let from_file = Credential { name: "api", source: CredentialSource::File(leaked) };
        assert_eq!(from_file.resolve().unwrap(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        let empty = from_file.resolve().unwrap_err();
        assert_eq!(empty.kind, ErrorKind::Config);
        assert!(empty.message.contains("is empty"), "{}", empty.message);
        std::fs::remove_file(&path).unwrap();
        let missing = from_file.resolve().unwrap_err();
        assert!(missing.message.contains(leaked), "{}", missing.message);

        let from_env = Credential { name: "api", source: CredentialSource::Env("FLOWC_TEST_SURELY_UNSET_VAR") };
        let error = from_env.resolve().unwrap_err();
        assert_eq!(error.code.as_deref(), Some("missing_credential"));
        assert!(error.message.contains("FLOWC_TEST_SURELY_UNSET_VAR"));
    }
}
