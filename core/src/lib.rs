//! What flowc (the compiler) and the programs it generates (through `flowc-runtime`) share.
//!
//! Each check here runs twice: once when flowc checks a flow document, once in the generated
//! program (at start-up or per run). One implementation for both is what makes "`flowc check`
//! accepts it" mean "the program accepts it". The crate holds nothing of the runtime's
//! network stack, so the compiler builds without tokio, reqwest, axum or rmcp; the runtime
//! re-exports every module under its old path (`flowc_runtime::jq`, `flowc_runtime::Error`).

pub mod error;
pub mod input;
pub mod jq;
pub mod js;
pub mod n8n;
pub mod params;
pub mod run_args;
pub mod schedule;
pub mod services;

pub use error::{Error, ErrorKind};
