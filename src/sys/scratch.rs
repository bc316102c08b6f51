//! A throwaway directory for unit tests, removed when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// An empty directory, mode 0755, under the system's temporary directory.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    /// `pairshell-MODULE-NAME-PID`: tests of one process run in parallel,
    /// so each names its own.
    pub(crate) fn new(module: &str, name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pairshell-{module}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(dir)
    }

    /// Write `name` in the directory with `text` and `mode`; its path.
    pub(crate) fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
