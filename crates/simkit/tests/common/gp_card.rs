//! A virtual card file made by `simkit card create`, driven through the built binary: shared by
//! the `simkit gp` CLI tests (each adds its own `Card` methods).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The card's native generic applet package and module (crates/card/src/gp/native.rs).
pub const GENERIC_PKG: &str = "F053494D4B495402";
pub const GENERIC_APPLET: &str = "F053494D4B49540201";
pub const INSTANCE: &str = "F053494D4B4954020101";

/// `simkit ARGS` with logging off.
pub fn simkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simkit"))
        .args(args)
        .env("SIMKIT_LOG", "off")
        .output()
        .expect("running simkit")
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A card file in its own temporary directory.
pub struct Card {
    dir: tempfile::TempDir,
    pub state: std::path::PathBuf,
}

impl Card {
    pub fn new() -> Card {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("card.simkit");
        let out = simkit(&["card", "create", "--state", p(&state)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Card { dir, state }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
