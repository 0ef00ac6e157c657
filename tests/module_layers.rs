//! The crates' modules form layers: no module uses one that uses it back, at either level —
//! between the top-level modules of a crate (`task`, `processor`, `query` …), and between the
//! files of one folder (`query/handlers/scan.rs` and `query/api.rs` …).
//!
//! A module "uses" another when one of its files names a path `crate::other…` (or, inside a
//! folder, `super::sibling…` or `crate::folder::sibling…`) outside comments. A folder's
//! `mod.rs` (and a crate's `lib.rs`) is its facade: the re-exports there do not count as
//! uses of its children. Run `cargo test --test module_layers` after moving code around.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the source folder can be read") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The code of a file without its comments (line comments and doc comments).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a source file can be read");
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segments of every path after `prefix` (`crate::`, `super::`) in `code`, with
/// the segments of `use prefix::{a, b::c}` groups expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let boundary = at == 0 || {
            let before = rest.as_bytes()[at - 1];
            !(before.is_ascii_alphanumeric() || before == b'_' || before == b':')
        };
        rest = &rest[at + prefix.len()..];
        if !boundary {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let segments = segments(item.trim());
                if !segments.is_empty() {
                    found.push(segments);
                }
            }
        } else {
            found.push(segments(rest));
        }
    }
    found
}

/// The leading `a::b::c` segments of `text`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(next) if !next.starts_with('{') => rest = next,
            Some(next) => {
                // A nested group: its first member names the next segment well enough.
                let inner = next.trim_start_matches('{').trim_start();
                out.extend(segments(inner).into_iter().take(1));
                break;
            }
            None => break,
        }
    }
    out
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The items a folder's `mod.rs` re-exports from its files (`pub use file::{A, B}`), by
/// name.
fn reexports(facade: &Path, files: &BTreeSet<String>) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(facade) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for statement in text.split(';') {
        let statement = statement.trim();
        let Some(rest) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let Some((file, items)) = rest.split_once("::") else {
            continue;
        };
        if !files.contains(file) {
            continue;
        }
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.rsplit("::").next().unwrap_or("").trim();
            let name = name.rsplit(" as ").next().unwrap_or(name).trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), file.to_owned());
            }
        }
    }
    out
}

/// The files of its folder a `mod.rs` uses in its own code: those it names (`file::…`,
/// `use file::…`), and those whose re-exported items it names outside its re-exports and
/// `mod` lines.
fn facade_uses(
    code: &str,
    files: &BTreeSet<String>,
    exported: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let own: String = code
        .split(';')
        .filter(|s| {
            let s = s.trim_start();
            let public = s.starts_with("pub ") || s.starts_with("pub(crate) ");
            let s = s
                .strip_prefix("pub(crate) ")
                .or_else(|| s.strip_prefix("pub "))
                .unwrap_or(s);
            !(s.starts_with("mod ") || (public && s.starts_with("use ")))
        })
        .collect::<Vec<_>>()
        .join(";");
    let words: BTreeSet<&str> = own
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut used: BTreeSet<String> = exported
        .iter()
        .filter(|(item, _)| words.contains(item.as_str()))
        .map(|(_, file)| file.clone())
        .collect();
    for file in files {
        if own.contains(&format!("{file}::")) {
            used.insert(file.clone());
        }
    }
    used
}

/// A cycle in `graph`, if it has one, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).expect("on the stack");
                    let mut found = stack[from..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Some(_) => {}
                None => {
                    if let Some(found) = visit(next, graph, state, stack) {
                        return Some(found);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str())
            && let Some(found) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(found);
        }
    }
    None
}

/// The module graphs of the crate whose sources are in `src`: the top level, then one per
/// folder.
fn graphs(src: &Path) -> BTreeMap<String, Graph> {
    let mut graphs: BTreeMap<String, Graph> = BTreeMap::new();
    let top_level: BTreeSet<String> = std::fs::read_dir(src)
        .expect("the source folder can be read")
        .map(|e| e.expect("an entry").path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .filter(|name| name != "lib" && name != "main")
        .collect();
    for file in sources(src) {
        let relative: Vec<String> = file
            .strip_prefix(src)
            .expect("under src")
            .with_extension("")
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let facade = relative.last().is_some_and(|l| l == "mod");
        let code = code(&file);
        let uses = paths_after(&code, "crate::");
        // Top level: which other top-level modules the file's module uses.
        let module = relative[0].clone();
        if module != "lib" {
            let edges = graphs.entry(String::new()).or_default();
            let own = edges.entry(module.clone()).or_default();
            for path in &uses {
                if let Some(first) = path.first()
                    && *first != module
                    && top_level.contains(first)
                {
                    own.insert(first.clone());
                }
            }
        }
        // Inside a folder: which of its files the file uses; the folder's `mod.rs` is the
        // node `mod` (its re-exports are not uses, its code is).
        if relative.len() >= 2 {
            let folder_path: Vec<String> = relative[..relative.len() - 1].to_vec();
            let dir = file.parent().expect("a folder");
            let siblings: BTreeSet<String> = std::fs::read_dir(dir)
                .expect("the folder can be read")
                .map(|e| e.expect("an entry").path())
                .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
                .filter(|n| n != "mod")
                .collect();
            let exported = reexports(&dir.join("mod.rs"), &siblings);
            // What a path to an item of this folder names: a file, or `mod`.
            let resolve = |first: &str| -> String {
                if siblings.contains(first) {
                    first.to_owned()
                } else {
                    exported
                        .get(first)
                        .cloned()
                        .unwrap_or_else(|| "mod".to_owned())
                }
            };
            let name = relative.last().expect("a file").clone();
            let mut used = BTreeSet::new();
            for path in &uses {
                if path.len() > folder_path.len() && path[..folder_path.len()] == folder_path[..] {
                    used.insert(resolve(&path[folder_path.len()]));
                }
            }
            if facade {
                used.extend(facade_uses(&code, &siblings, &exported));
            } else {
                for path in paths_after(&code, "super::") {
                    if let Some(first) = path.first() {
                        used.insert(resolve(first));
                    }
                }
            }
            let folder = folder_path.join("/");
            let edges = graphs.entry(folder).or_default();
            let own = edges.entry(name.clone()).or_default();
            own.extend(used.into_iter().filter(|u| *u != name));
        }
    }
    graphs
}

fn check(crate_dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("src");
    for (folder, graph) in graphs(&src) {
        let place = if folder.is_empty() {
            format!("{crate_dir}/src")
        } else {
            format!("{crate_dir}/src/{folder}")
        };
        if let Some(found) = cycle(&graph) {
            panic!(
                "modules of {place} use each other in a circle: {}; move what they share into a module both can use",
                found.join(" → ")
            );
        }
    }
}

#[test]
fn the_engine_has_no_circular_module_uses() {
    check("engine");
}

#[test]
fn the_state_crate_has_no_circular_module_uses() {
    check("state");
}

#[test]
fn the_checker_finds_a_circle() {
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    graph.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&graph), None);
    assert_eq!(
        paths_after("use crate::{task::X, query::api::Api};", "crate::"),
        vec![
            vec!["task".to_owned(), "X".to_owned()],
            vec!["query".to_owned(), "api".to_owned(), "Api".to_owned()]
        ]
    );
}
