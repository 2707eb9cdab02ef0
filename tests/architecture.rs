//! The module layering of ARCHITECTURE.md holds in the code: every `crate::` reference outside
//! tests points to a module on the same or a lower row of its table, no two modules import each
//! other (directly or round a cycle), and every module of `src/` has a row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of the "Modules, bottom to top" table: module name → row number (0 = bottom).
fn rows() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = doc
        .split("## Modules, bottom to top")
        .nth(1)
        .and_then(|rest| rest.split("```text\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("ARCHITECTURE.md has a ```text table under \"Modules, bottom to top\"");
    let mut rows = BTreeMap::new();
    for (row, line) in table.lines().enumerate() {
        // The names come first, then a gap of spaces and what they depend on.
        let names = line
            .split("  ")
            .filter(|s| !s.is_empty())
            .take_while(|s| s.trim().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        for name in names {
            rows.insert(name.trim().to_string(), row);
        }
    }
    rows
}

/// The crate's top-level modules and, for each, the modules its non-test code names.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let deps = edges.entry(name.clone()).or_default();
        for file in rust_files(&path) {
            for dep in referenced(&std::fs::read_to_string(&file).unwrap()) {
                if dep != name {
                    deps.insert(dep);
                }
            }
        }
    }
    edges
}

/// `.rs` files under `path` (or `path` itself), without test files and test folders.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name.contains("tests") || name == "test" {
        return vec![];
    }
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .flat_map(|e| rust_files(&e.unwrap().path()))
            .collect();
        files.sort();
        files
    } else if name.ends_with(".rs") {
        vec![path.to_path_buf()]
    } else {
        vec![]
    }
}

/// Top-level modules named by `crate::NAME` or `use crate::{NAME, …}` before the file's
/// `#[cfg(test)]` part (test modules sit at the end of a file by convention here).
fn referenced(code: &str) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or(code);
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of a grouped import: at depth 0 of the braces.
            let mut depth = 0;
            let mut word = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_start = true,
                    c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => {
                        word.push(c)
                    }
                    _ => {
                        if !word.is_empty() {
                            found.insert(std::mem::take(&mut word));
                        }
                        if depth == 0 && !c.is_whitespace() {
                            at_start = false;
                        }
                    }
                }
            }
            if !word.is_empty() {
                found.insert(word);
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() {
                found.insert(word);
            }
        }
    }
    found.retain(|w| w.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    found
}

#[test]
fn every_import_points_down_the_documented_layers() {
    let rows = rows();
    let edges = edges();
    let missing: Vec<&String> = edges.keys().filter(|m| !rows.contains_key(*m)).collect();
    assert!(
        missing.is_empty(),
        "modules without a row in ARCHITECTURE.md's table: {missing:?}"
    );
    let mut upward = vec![];
    for (module, deps) in &edges {
        for dep in deps {
            match rows.get(dep) {
                Some(r) if *r <= rows[module] => {}
                _ => upward.push(format!("{module} → {dep}")),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports pointing up ARCHITECTURE.md's layers (move the code or the row): {upward:?}"
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let edges = edges();
    // Depth-first search for a back edge; reports the cycle it closes.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == m) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for dep in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(dep, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        let cycle = visit(module, &edges, &mut vec![], &mut done);
        assert!(
            cycle.is_none(),
            "module cycle: {}",
            cycle.unwrap().join(" → ")
        );
    }
}

#[test]
fn the_reference_scan_sees_grouped_and_nested_imports() {
    let code = "use crate::{campaign::{Campaign, X}, ledger, plan::Plan};\nfn f() { crate::exit::Exit::Ok }\n#[cfg(test)]\nuse crate::sandbox;";
    let found: Vec<String> = referenced(code).into_iter().collect();
    assert_eq!(found, ["campaign", "exit", "ledger", "plan"]);
}
