//! No two files of `src/` import each other: each pair of files that use
//! items of one another is a knot a reader must untie both ways at once.
//! A file uses another when its code names it, by `crate::`, `super::` or
//! `self::` paths (groups included), or, for a module file, by the name of
//! a child module. The files of `src/io/` are compiled as modules of each
//! face (see `io_modules!` in `src/lib.rs`), so their `super::` is either
//! face. Unit tests at the end of a file (`#[cfg(test)] mod tests`) are
//! left out: they may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `dir`, by its path from `src/`.
fn sources(dir: &Path, src: &Path, found: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, src, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("a source file");
            found.insert(name, text);
        }
    }
}

/// `text` without comments, and without the unit tests at its end.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut code = String::new();
    let mut rest = text;
    while let Some(next) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |at| &after[at..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |at| &after[at + 2..]);
        } else {
            code.push(next);
            rest = &rest[next.len_utf8()..];
        }
    }
    code
}

/// The module path of a file: `sql/ddl.rs` is `[sql, ddl]`, `sql/mod.rs`
/// is `[sql]`; a binary's files are under `[bin, <name>]`.
fn module_of(file: &str) -> Vec<String> {
    let mut path: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        path.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        path.pop();
    }
    path
}

fn is_module_file(file: &str) -> bool {
    file.ends_with("mod.rs") || file == "lib.rs" || file.ends_with("main.rs")
}

fn words(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .take_while(|s: &String| !s.is_empty())
        .collect()
}

/// The paths a file's code names, as `(crate|super|self, segments)`.
fn named(code: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for root in ["crate", "super", "self"] {
        let marker = format!("{root}::");
        for (at, _) in code.match_indices(&marker) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let after = &code[at + marker.len()..];
            match after.strip_prefix('{') {
                Some(group) => {
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    for item in group.split(',') {
                        let item = words(item.trim());
                        if !item.is_empty() {
                            found.push((root.to_owned(), item));
                        }
                    }
                }
                None => found.push((root.to_owned(), words(after))),
            }
        }
    }
    found
}

/// The file a module path names: the longest prefix that is a file.
fn file_of(path: &[String], files: &BTreeMap<Vec<String>, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .find_map(|n| files.get(&path[..n]).cloned())
}

/// Which files each file uses.
fn edges(sources: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    let mut files: BTreeMap<Vec<String>, String> =
        sources.keys().map(|f| (module_of(f), f.clone())).collect();
    // Each face has the files of `src/io/` as modules of its own.
    for file in sources.keys().filter(|f| f.starts_with("io/")) {
        let name = module_of(file).pop().expect("a name");
        for face in ["blocking", "nonblocking"] {
            files.insert(vec![face.to_owned(), name.clone()], file.clone());
        }
    }
    let mut edges = BTreeSet::new();
    for (file, text) in sources {
        let code = code_of(text);
        let module = module_of(file);
        // The module a file's `super::` and `self::` start from, for each
        // module it is compiled as.
        let homes: Vec<Vec<String>> = match file.strip_prefix("io/") {
            Some(_) => vec![vec!["blocking".into()], vec!["nonblocking".into()]],
            None => vec![module.clone()],
        };
        let crate_root: Vec<String> = match file.starts_with("bin/") {
            true => module[..2.min(module.len())].to_vec(),
            false => Vec::new(),
        };
        for (root, segments) in named(&code) {
            for home in &homes {
                let parent = home[..home.len().saturating_sub(1)].to_vec();
                let start = match root.as_str() {
                    "crate" => crate_root.clone(),
                    "super" if file.starts_with("io/") => home.clone(),
                    "super" => parent,
                    _ => home.clone(),
                };
                let mut path = start.clone();
                path.extend(segments.iter().cloned());
                let mut target = file_of(&path, &files);
                // A sibling in `src/io/`, compiled beside the file.
                if file.starts_with("io/") && root == "super" {
                    let mut io = vec!["io".to_owned()];
                    io.extend(segments.iter().cloned());
                    target = file_of(&io, &files).or(target);
                }
                if let Some(target) = target.filter(|t| t != file) {
                    edges.insert((file.clone(), target));
                }
            }
        }
        // A module file naming a child module's items.
        if is_module_file(file) {
            for (child, child_file) in files.iter().filter(|(path, _)| {
                path.len() == module.len() + 1 && path[..module.len()] == module[..]
            }) {
                let name = child.last().expect("a child's name");
                let named = code.match_indices(&format!("{name}::")).any(|(at, _)| {
                    !code[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if named {
                    edges.insert((file.clone(), child_file.clone()));
                }
            }
        }
    }
    edges
}

#[test]
fn no_two_files_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    sources(&src, &src, &mut found);
    let edges = edges(&found);
    assert!(edges.len() > 100, "too few uses found: {}", edges.len());
    assert!(edges.contains(&("io/engine.rs".into(), "retry.rs".into())));
    assert!(edges.contains(&("blocking/driver.rs".into(), "io/face.rs".into())));
    let knots: Vec<String> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("src/{a} <-> src/{b}"))
        .collect();
    assert!(
        knots.is_empty(),
        "files that import each other:\n{}",
        knots.join("\n")
    );
}

#[test]
fn the_reader_sees_paths_and_groups() {
    let code =
        code_of("use crate::{error::Error, sql};\n// crate::faces\nlet x = super::rows::decode();");
    let found = named(&code);
    assert_eq!(
        found,
        [
            (
                "crate".to_owned(),
                vec!["error".to_owned(), "Error".to_owned()]
            ),
            ("crate".to_owned(), vec!["sql".to_owned()]),
            (
                "super".to_owned(),
                vec!["rows".to_owned(), "decode".to_owned()]
            ),
        ]
    );
    assert_eq!(module_of("sql/mod.rs"), ["sql"]);
    assert_eq!(module_of("sql/ddl.rs"), ["sql", "ddl"]);
}
