//! The `pairshell` binary: everything lives in the library, so this stays one line.
fn main() -> std::process::ExitCode {
    pairshell::main()
}
