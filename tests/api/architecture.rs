//! The module graph of `src/` (DESIGN §1): dependencies point one way, so no two top-level
//! modules may import each other. Read from the source text: every `crate::<module>` path,
//! `use crate::{a, b::c}` groups included, and `super::` paths that climb to the crate root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the other top-level modules it names.
type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn no_two_top_level_modules_import_each_other() {
    // Arrange
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // Act
    let cycles = mutual_imports(&graph);
    // Assert
    let listed: Vec<String> = cycles.iter().map(|(a, b)| format!("{a} <-> {b}")).collect();
    assert!(cycles.is_empty(), "top-level modules that import each other:\n  {}", listed.join("\n  "));
}

#[test]
fn the_scanner_reads_paths_groups_and_super_paths_but_not_comments() {
    // Arrange
    let text = r#"
        use crate::{aggregate::sum_rollups, http::{ApiError, JsonBody}, self};
        use crate::store::Store;
        // crate::portal is only mentioned in a comment
        /// and `crate::notify` in a doc comment
        fn f() { let url = "sqlite://x"; crate::rate::rate_usage(); super::config::load(); }
    "#;
    let known: BTreeSet<String> =
        ["aggregate", "http", "store", "portal", "notify", "rate", "config"].map(String::from).into();
    // Act
    let found = referenced_modules(text, &["cli".to_owned()], &known);
    // Assert
    let expected: BTreeSet<String> = ["aggregate", "http", "store", "rate", "config"].map(String::from).into();
    assert_eq!(found, expected);
}

/// Pairs `(a, b)`, `a < b`, where `a` uses `b` and `b` uses `a`.
fn mutual_imports(graph: &ModuleGraph) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (a, uses) in graph {
        for b in uses.iter().filter(|b| a < *b) {
            if graph.get(b).is_some_and(|back| back.contains(a)) {
                pairs.push((a.clone(), b.clone()));
            }
        }
    }
    pairs
}

fn module_graph(src: &Path) -> ModuleGraph {
    let files = rust_files(src);
    let known: BTreeSet<String> = files.iter().filter_map(|f| module_path(src, f).first().cloned()).collect();
    let mut graph = ModuleGraph::new();
    for file in &files {
        let path = module_path(src, file);
        let Some(top) = path.first().cloned() else { continue };
        let text = std::fs::read_to_string(file).expect("a source file is readable");
        let uses = graph.entry(top.clone()).or_default();
        uses.extend(referenced_modules(&text, &path, &known).into_iter().filter(|m| *m != top));
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry is readable").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `src/a/b.rs` → `[a, b]`, `src/a/mod.rs` → `[a]`, `src/lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("the file is under src/").with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The known top-level modules that `text` (the file at module `path`) names.
fn referenced_modules(text: &str, path: &[String], known: &BTreeSet<String>) -> BTreeSet<String> {
    let code = strip_comments(text);
    let mut found = BTreeSet::new();
    let crate_path = regex_lite::Regex::new(r"\bcrate::(\{|[a-z_][a-z0-9_]*)").expect("the pattern is valid");
    for capture in crate_path.captures_iter(&code) {
        let head = capture.get(1).expect("group 1 always matches");
        if head.as_str() == "{" {
            found.extend(group_heads(&code[head.end()..]));
        } else {
            found.insert(head.as_str().to_owned());
        }
    }
    // `super::` chains that climb out of this file's module to the crate root.
    let super_path = regex_lite::Regex::new(r"\b((?:super::)+)([a-z_][a-z0-9_]*)").expect("the pattern is valid");
    for capture in super_path.captures_iter(&code) {
        let climbs = capture[1].matches("super::").count();
        if climbs == path.len() {
            found.insert(capture[2].to_owned());
        }
    }
    found.retain(|m| known.contains(m));
    found
}

/// The first segment of every item of a `{ … }` group, `rest` starting just inside it.
fn group_heads(rest: &str) -> Vec<String> {
    let (mut depth, mut item, mut items) = (0usize, String::new(), Vec::new());
    for c in rest.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            _ if depth == 0 => item.push(c),
            _ => {}
        }
    }
    items.push(item);
    items
        .iter()
        .filter_map(|i| i.trim().split("::").next().map(str::trim).filter(|h| !h.is_empty()).map(str::to_owned))
        .collect()
}

/// The text without `//` comments (`://` inside URLs is kept).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut cut = line.len();
            let bytes = line.as_bytes();
            for i in 0..bytes.len().saturating_sub(1) {
                if bytes[i] == b'/' && bytes[i + 1] == b'/' && (i == 0 || bytes[i - 1] != b':') {
                    cut = i;
                    break;
                }
            }
            &line[..cut]
        })
        .collect::<Vec<_>>()
        .join("\n")
}
