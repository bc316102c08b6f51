//! What a guest may do in a session.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Watch, or watch and type; written `read-only` or `read-write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    ReadOnly,
    ReadWrite,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::ReadWrite => "read-write",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spells_a_mode_as_the_trail_does() {
        for mode in [Mode::ReadOnly, Mode::ReadWrite] {
            let text =
                toml::to_string(&std::collections::BTreeMap::from([("mode", mode)])).unwrap();
            assert_eq!(text.trim(), format!("mode = \"{}\"", mode.as_str()));
        }
    }
}
