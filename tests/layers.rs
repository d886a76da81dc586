//! The crate's layering rule, checked on its own source: `src/lib.rs`
//! declares the modules in layers (groups separated by a blank line, the
//! runtime-free core first, the faces last), and a module may use only
//! modules of the layers above its own. So there is no import cycle, and
//! the core never reaches into a face. `src/io/`, compiled by both faces,
//! sits between the core and the faces. And CONTRIBUTING.md's map of the
//! source names every file of `src/`, and no other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The modules of `src/lib.rs`, layer by layer, top first.
fn layers(lib: &str) -> Vec<Vec<String>> {
    let mut layers: Vec<Vec<String>> = vec![Vec::new()];
    for line in lib.lines() {
        let line = line.trim();
        if line.is_empty() {
            if layers.last().is_some_and(|l| !l.is_empty()) {
                layers.push(Vec::new());
            }
            continue;
        }
        let declared = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.split(';').next());
        if let Some(name) = declared {
            layers.last_mut().expect("a layer").push(name.to_owned());
        }
    }
    layers.retain(|l| !l.is_empty());
    layers
}

/// `text` without comments, so that a module named in prose is no use.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |at| &after[at..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |at| &after[at + 2..]);
        } else {
            let next = rest.chars().next().expect("not empty");
            code.push(next);
            rest = &rest[next.len_utf8()..];
        }
    }
    code
}

/// The crate modules a file's code names: `crate::name` and the names of
/// `crate::{a, b::c}` groups.
fn uses(code: &str) -> BTreeSet<String> {
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let after = &code[at + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                found.extend(group.split(',').map(|part| word(part.trim())));
            }
            None => {
                found.insert(word(after));
            }
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.sort();
    found.iter().flat_map(|p| files(p)).collect()
}

#[test]
fn each_module_uses_only_the_layers_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let mut layers = layers(&lib);
    assert!(layers.len() >= 5, "lib.rs declares {layers:?}");
    // The shared I/O is not a module of lib.rs: each face compiles it.
    let faces = layers
        .iter()
        .position(|l| l.iter().any(|m| m == "blocking"))
        .expect("the faces' layer");
    layers.insert(faces, vec!["io".to_owned()]);

    let layer_of = |name: &str| layers.iter().position(|l| l.iter().any(|m| m == name));
    let mut broken = Vec::new();
    for (layer, modules) in layers.iter().enumerate() {
        for module in modules {
            let path = match src.join(format!("{module}.rs")) {
                file if file.exists() => file,
                _ => src.join(module),
            };
            let sources = files(&path);
            assert!(!sources.is_empty(), "no source for module {module}");
            for file in sources {
                let text = std::fs::read_to_string(&file).expect("a source file");
                for used in uses(&code_of(&text)) {
                    match layer_of(&used) {
                        Some(l) if l < layer || used == *module => {}
                        Some(_) => broken.push(format!(
                            "{} uses crate::{used}, which is not above it",
                            file.strip_prefix(&src).unwrap_or(&file).display()
                        )),
                        None => {} // an item of lib.rs itself, or a re-export
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn the_checker_sees_what_it_checks() {
    let code =
        code_of("use crate::{error::Error, sql};\n// crate::faces\nlet x = crate::rows::decode();");
    let found: Vec<String> = uses(&code).into_iter().collect();
    assert_eq!(found, ["error", "rows", "sql"]);
    let layers = layers("mod a;\n\nmod b;\n#[cfg(x)]\npub mod c;\n\nmod d; // note\n");
    assert_eq!(layers, [vec!["a"], vec!["b", "c"], vec!["d"]]);
}

/// The files that the map of CONTRIBUTING.md names (the ```text block of
/// its "## Layout" section), as paths from the crate root, in map order.
/// Each line of the map is a folder (`io/`, or `bin/name/`) or a file
/// (`api.rs`), then what it holds; a file is in the nearest folder above it
/// that is indented less. A line that is neither is an error.
fn mapped(contributing: &str) -> Result<Vec<String>, String> {
    let mut lines = contributing.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == "## Layout")
        .ok_or("no \"## Layout\" section")?;
    lines
        .by_ref()
        .take_while(|l| !l.starts_with("## "))
        .find(|l| l.trim_end() == "```text")
        .ok_or("no ```text block in the \"## Layout\" section")?;
    let mut folders: Vec<(usize, &str)> = Vec::new();
    let mut files = Vec::new();
    for line in lines.take_while(|l| l.trim_end() != "```") {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        while folders.last().is_some_and(|(at, _)| *at >= indent) {
            folders.pop();
        }
        if name.ends_with('/') {
            folders.push((indent, name));
        } else if name.ends_with(".rs") {
            files.push(folders.iter().map(|(_, f)| *f).chain([name]).collect());
        } else {
            return Err(format!(
                "a line is neither a folder (`io/`) nor a file (`api.rs`): {line:?}"
            ));
        }
    }
    Ok(files)
}

#[test]
fn contributing_names_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let contributing =
        std::fs::read_to_string(root.join("CONTRIBUTING.md")).expect("CONTRIBUTING.md");
    let named = mapped(&contributing).unwrap_or_else(|e| panic!("CONTRIBUTING.md's map: {e}"));
    let mut in_map = BTreeSet::new();
    let twice: Vec<&str> = named
        .iter()
        .filter(|f| !in_map.insert(f.as_str()))
        .map(String::as_str)
        .collect();
    let on_disk: BTreeSet<String> = files(&root.join("src"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let relative = p.strip_prefix(root).unwrap_or(p);
            let parts: Vec<_> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect();
            parts.join("/")
        })
        .collect();
    let missing: Vec<&str> = on_disk
        .iter()
        .map(String::as_str)
        .filter(|f| !in_map.contains(f))
        .collect();
    let extra: Vec<&str> = in_map
        .iter()
        .copied()
        .filter(|f| !on_disk.contains(*f))
        .collect();
    let mut report = String::new();
    for (what, list) in [
        ("not in the map (add a line under its folder)", &missing),
        (
            "in the map, not in src/ (remove or rename its line)",
            &extra,
        ),
        ("named twice in the map", &twice),
    ] {
        if !list.is_empty() {
            report += &format!("\n  {what}:\n    {}", list.join("\n    "));
        }
    }
    assert!(
        report.is_empty(),
        "CONTRIBUTING.md's layout map (the ```text block under \"## Layout\") is out of date:{report}"
    );
}

#[test]
fn the_map_reader_sees_folders_and_files() {
    let doc = "# Title\n\n## Layout\n\n```text\nsrc/\n  lib.rs         the root\n  io/            shared\n    api.rs       operations\n  bin/tool/      a binary\n    main.rs      commands\n  error.rs       errors\n```\n\n## Next\n\n```text\nx.rs\n```\n";
    let found = mapped(doc).expect("a map");
    assert_eq!(
        found,
        [
            "src/lib.rs",
            "src/io/api.rs",
            "src/bin/tool/main.rs",
            "src/error.rs"
        ]
    );
    assert!(
        mapped("## Layout\n```text\nsrc/\n  lib.rs  the root,\n          wrapped\n```\n").is_err()
    );
    assert!(mapped("## Layout\n\nNo map.\n\n## Next\n```text\nsrc/\n```\n").is_err());
}
