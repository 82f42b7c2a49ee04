//! n8n workflows, compiled as they are (in progress: the importer itself is not written yet, so
//! an n8n export is not recognised and is checked as a flowc document). What is here:
//! [`expression`], which reads n8n's parameter expressions into chunks and parses their code.
//! The execution model they run on is the runtime's `items`; the JavaScript engine for what is
//! not translated is the `flowc-js` crate.

pub mod expression;
