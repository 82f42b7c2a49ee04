//! The hosted APIs that node kinds call, with their default roots.
//!
//! Each service's official SDKs read an environment variable that moves the API root (a
//! proxy, a compatible server, a self-hosted instance, a test stand-in): a node that names no
//! `base_url` of its own honours it too, so a flow moves between them without editing. The
//! compiler lists these variables in a project's `.env.example`; the program reads them when
//! a node runs (and when `health` checks the host).

/// A hosted API.
#[derive(Debug, PartialEq, Eq)]
pub struct Service {
    /// The name of this module's constant for it (the generated code names it).
    pub constant: &'static str,
    /// The service, as messages name it.
    pub name: &'static str,
    /// The variable that overrides the root.
    pub env: &'static str,
    /// The hosted API's root.
    pub default: &'static str,
}

impl Service {
    /// The API root: the variable's value when set and not blank, else the default.
    pub fn root(&self) -> String {
        match std::env::var(self.env) {
            Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
            _ => self.default.to_owned(),
        }
    }
}

/// OpenAI's API (`OPENAI_BASE_URL`, as the official Python and Node SDKs read it).
pub const OPENAI: Service =
    Service { constant: "OPENAI", name: "OpenAI", env: "OPENAI_BASE_URL", default: "https://api.openai.com/v1" };

/// Firecrawl's API (`FIRECRAWL_API_URL`, as the official SDKs read it).
pub const FIRECRAWL: Service = Service {
    constant: "FIRECRAWL",
    name: "Firecrawl",
    env: "FIRECRAWL_API_URL",
    default: "https://api.firecrawl.dev",
};

/// Hugging Face's Inference API (`HF_INFERENCE_ENDPOINT`, as `huggingface_hub` reads it).
pub const HUGGINGFACE: Service = Service {
    constant: "HUGGINGFACE",
    name: "Hugging Face",
    env: "HF_INFERENCE_ENDPOINT",
    default: "https://router.huggingface.co/hf-inference",
};

/// Apify's API (`APIFY_API_BASE_URL`, as Apify's SDKs and clients read it).
pub const APIFY: Service =
    Service { constant: "APIFY", name: "Apify", env: "APIFY_API_BASE_URL", default: "https://api.apify.com" };

/// Every service, in the order `.env.example` lists them.
pub const ALL: &[&Service] = &[&OPENAI, &FIRECRAWL, &HUGGINGFACE, &APIFY];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_moves_the_root_unless_blank() {
        let service = Service { constant: "T", name: "T", env: "FLOWC_CORE_TEST_SERVICE_URL", default: "https://a" };
        assert_eq!(service.root(), "https://a");
        std::env::set_var(service.env, "  ");
        assert_eq!(service.root(), "https://a");
        std::env::set_var(service.env, "http://127.0.0.1:9/v1 ");
        assert_eq!(service.root(), "http://127.0.0.1:9/v1");
        std::env::remove_var(service.env);
    }
}
