//! Any bytes, as `flowc check`, `compile` and `graph` take them: decoded as UTF-8, checked,
//! compiled into a project's files and rendered as a graph, with the diagnostics rendered both
//! ways when the document is refused. Nothing may panic, overflow the stack or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = "fuzz.json";
    let text = match flowc::decode(file, data.to_vec()) {
        Ok(text) => text,
        Err(diagnostics) => {
            let _ = (diagnostics.render(), diagnostics.to_json());
            return;
        }
    };
    match flowc::compile(file, &text, &flowc::Options::default()) {
        Ok(project) => {
            // A document check accepts renders its graph too.
            for format in [flowc::graph::Format::Mermaid, flowc::graph::Format::Dot] {
                assert!(flowc::graph(file, &text, format).is_ok(), "compile accepted what graph refused");
            }
            assert!(flowc::check(file, &text).is_ok(), "compile accepted what check refused");
            drop(project);
        }
        Err(diagnostics) => {
            let _ = (diagnostics.render(), diagnostics.to_json());
            assert!(flowc::check(file, &text).is_err(), "check accepted what compile refused");
        }
    }
});
