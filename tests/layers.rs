//! The source tree's folders are its layers, and imports only point down.
//!
//! Every `crate::MODULE` path in `src/` (in `use` lines and inline) is read
//! and judged against the layer of the file it is written in:
//!
//! | rank | modules                                                   |
//! |------|-----------------------------------------------------------|
//! | 4    | `app`, `fuzzing`, `lib.rs`                                 |
//! | 3    | `guest`, `host`, `admin`, `sshd` (the commands)            |
//! | 2    | `config`, `policy`, `tmux`, `audit`, `identity`, `roster`, `record`, `ask` |
//! | 1    | `sys`                                                     |
//! | 0    | `core`                                                    |
//!
//! A file may use its own module and any lower rank. Commands never use one
//! another. Domain modules may use each other, but not in a circle. `cli`
//! uses only `core`. `unsafe` appears only under `src/sys/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "core" => 0,
        "sys" => 1,
        "config" | "policy" | "tmux" | "audit" | "identity" | "roster" | "record" | "ask" => 2,
        "guest" | "host" | "admin" | "sshd" => 3,
        "app" | "fuzzing" | "lib" | "main" => 4,
        // clap's view of the command line: judged by its own rule.
        "cli" => 4,
        _ => return None,
    })
}

/// The top-level module a file under `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without `//` comments, so a doc line naming another module is not
/// an import.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module named as `crate::NAME` in `text`, and every `crate::{A, B}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        // `pairshell::crate::` cannot happen; `$crate::` is a macro's.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

struct Tree {
    /// file → modules it names
    uses: Vec<(PathBuf, String, BTreeSet<String>)>,
}

fn tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let uses = files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).unwrap();
            let module = module_of(&src, &f);
            let rel = f.strip_prefix(&src).unwrap().to_path_buf();
            (rel, module, crate_paths(&code(&text)))
        })
        .collect();
    Tree { uses }
}

/// What is wrong with `from` (in `file`) naming `to`, if anything.
fn judge(file: &Path, from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    let where_ = file.display();
    let Some(to_rank) = rank(to) else {
        return Some(format!(
            "{where_}: crate::{to} is in no layer; add it to tests/layers.rs"
        ));
    };
    if from == "cli" {
        return (to != "core").then(|| format!("{where_}: cli may use only core, not {to}"));
    }
    if to == "cli" && !matches!(from, "app" | "lib") {
        return Some(format!(
            "{where_}: only app reads the command line; {from} must not use cli"
        ));
    }
    let from_rank = rank(from)?;
    if to_rank > from_rank {
        return Some(format!("{where_}: {from} (layer {from_rank}) uses {to} (layer {to_rank}), an import that points up"));
    }
    if to_rank == from_rank && from_rank == 3 {
        return Some(format!(
            "{where_}: the command {from} uses the command {to}; move what they share down"
        ));
    }
    None
}

#[test]
fn every_source_file_is_in_a_layer() {
    let t = tree();
    for (file, module, _) in &t.uses {
        assert!(
            rank(module).is_some(),
            "{}: module {module} is in no layer",
            file.display()
        );
    }
}

#[test]
fn imports_only_point_down() {
    let t = tree();
    let mut wrong = Vec::new();
    for (file, module, uses) in &t.uses {
        for to in uses {
            wrong.extend(judge(file, module, to));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that break the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_domain_layer_has_no_circle() {
    let t = tree();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, module, uses) in &t.uses {
        if rank(module) != Some(2) {
            continue;
        }
        for to in uses {
            if to != module && rank(to) == Some(2) {
                edges.entry(module.clone()).or_default().insert(to.clone());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(circle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            panic!(
                "the domain layer imports in a circle: {}",
                circle.join(" → ")
            );
        }
    }
}

#[test]
fn unsafe_code_lives_only_under_sys() {
    let t = tree();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (file, module, _) in &t.uses {
        if module == "sys" {
            continue;
        }
        let text = code(&fs::read_to_string(src.join(file)).unwrap());
        for (n, line) in text.lines().enumerate() {
            let line = &without_strings(line);
            let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            if words.into_iter().any(|w| w == "unsafe") && !line.contains("unsafe_code") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside src/sys/:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_unsafe_block_under_sys_says_why_it_is_sound() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sys");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap();
            if !code.contains("unsafe {") && !code.contains("unsafe{") {
                continue;
            }
            // The SAFETY comment is on one of the few lines above.
            let above = &lines[n.saturating_sub(6)..n];
            if !above.iter().any(|l| l.contains("SAFETY:")) && !line.contains("SAFETY:") {
                missing.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "unsafe blocks without a SAFETY comment:\n{}",
        missing.join("\n")
    );
}

#[test]
fn exit_codes_are_chosen_only_in_app() {
    let t = tree();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found: Vec<String> = t
        .uses
        .iter()
        .filter(|(file, module, _)| {
            module != "app" && module != "main" && module != "lib" && !file.ends_with("fuzzing.rs")
        })
        .filter(|(file, _, _)| {
            code(&fs::read_to_string(src.join(file)).unwrap()).contains("ExitCode")
        })
        .map(|(file, _, _)| file.display().to_string())
        .collect();
    assert!(
        found.is_empty(),
        "ExitCode outside src/app.rs (return core::error::Exit or Failure): {found:?}"
    );
}

/// `line` with the insides of its string literals blanked, so a reason
/// such as `"unsafe-dir"` is not taken for the keyword.
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    let mut escaped = false;
    for c in line.chars() {
        if inside {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => inside = false,
                _ => {}
            }
            if !inside {
                out.push('"');
            }
        } else {
            if c == '"' {
                inside = true;
            }
            out.push(c);
        }
    }
    out
}

// The checker itself: a wrong import must be caught, or the tests above
// prove nothing.
#[test]
fn the_checker_catches_an_import_that_points_up() {
    let uses = crate_paths(&code(
        "use crate::guest::Start;\nlet x = crate::{audit, sys::trust};",
    ));
    assert_eq!(
        uses,
        ["audit", "guest", "sys"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let f = Path::new("config/mod.rs");
    assert!(judge(f, "config", "guest").is_some());
    assert!(judge(f, "config", "sys").is_none());
    assert!(judge(Path::new("cli/mod.rs"), "cli", "policy").is_some());
    assert!(judge(Path::new("host/mod.rs"), "host", "admin").is_some());
    assert!(judge(Path::new("host/mod.rs"), "host", "cli").is_some());
    assert!(judge(Path::new("sys/trust.rs"), "sys", "core").is_none());
    assert!(judge(Path::new("core/text.rs"), "core", "sys").is_some());
    assert_eq!(
        without_strings(r#"x("unsafe-dir", "a\"unsafe")"#),
        r#"x("", "")"#
    );
    // A comment naming a module is not an import.
    assert!(crate_paths(&code("// see crate::guest")).is_empty());
}
