//! Credentials, resolved at run time from the environment or a file; never at compile time,
//! and never written into envelopes, events or logs.

use crate::error::{Error, ErrorKind};

/// Where a credential's secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// An environment variable.
    Env(&'static str),
    /// A file (a mounted secret); surrounding whitespace is trimmed.
    File(&'static str),
}

/// A credential the flow declares under `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    pub name: &'static str,
    pub source: CredentialSource,
}

impl Credential {
    /// Reads the secret. A missing variable or unreadable file is a `config` error that says
    /// what to set; the message never holds the secret.
    pub fn resolve(&self) -> Result<String, Error> {
        match self.source {
            CredentialSource::Env(var) => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(value),
                _ => Err(Error::new(
                    ErrorKind::Config,
                    format!("credential `{}` is not set: set the environment variable {var}", self.name),
                )
                .with_code("missing_credential")),
            },
            CredentialSource::File(path) => match std::fs::read_to_string(path) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                Ok(_) => {
                    Err(Error::new(ErrorKind::Config, format!("credential `{}`: the file {path} is empty", self.name))
                        .with_code("missing_credential"))
                }
                Err(err) => {
                    Err(Error::new(ErrorKind::Config, format!("credential `{}`: cannot read {path}: {err}", self.name))
                        .with_code("missing_credential"))
                }
            },
        }
    }

    /// How to describe the source without revealing anything: `env:VAR` or `file:/path`.
    pub fn describe(&self) -> serde_json::Value {
        match self.source {
            CredentialSource::Env(var) => serde_json::json!({"name": self.name, "env": var}),
            CredentialSource::File(path) => serde_json::json!({"name": self.name, "file": path}),
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
