//! The README and the guides say what the crate is: the install lines come
//! first and name features that exist, every feature is in the README's
//! table, and every guide of `docs/` is a module of `src/guide/` (so its
//! examples run as doctests) and is packaged.

use std::collections::BTreeSet;
use std::fs;

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The names of `Cargo.toml`'s `[features]`.
fn features() -> BTreeSet<String> {
    let manifest = read("Cargo.toml");
    let section = manifest
        .split("\n[features]\n")
        .nth(1)
        .expect("a [features] section");
    section
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once(" = "))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.starts_with('#'))
        .collect()
}

#[test]
fn the_install_lines_come_first_and_name_real_features() {
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let install: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("langchain-cockroachdb = {"))
        .map(|(i, l)| (i, *l))
        .collect();
    assert!(install.len() >= 3, "the install lines: {install:?}");
    assert!(
        install[0].0 < 60,
        "the first dependency line is line {}",
        install[0].0 + 1
    );
    let known = features();
    assert!(
        known.contains("async") && known.contains("rig"),
        "{known:?}"
    );
    for (_, line) in install {
        let named = line
            .split("features = [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_else(|| panic!("no features in {line}"));
        for feature in named.split(',').map(|f| f.trim().trim_matches('"')) {
            assert!(known.contains(feature), "{line}: no feature {feature:?}");
        }
    }
}

#[test]
fn every_feature_is_in_the_readme_table() {
    let readme = read("README.md");
    let missing: Vec<String> = features()
        .into_iter()
        .filter(|f| f != "default" && !readme.contains(&format!("| `{f}`")))
        .collect();
    assert!(missing.is_empty(), "not in the README's table: {missing:?}");
}

#[test]
fn every_guide_is_a_module_and_is_packaged() {
    let modules = read("src/guide/mod.rs");
    let manifest = read("Cargo.toml");
    assert!(manifest.contains("\"/docs/*.md\""), "Cargo.toml's include");
    let mut guides = 0;
    for entry in fs::read_dir("docs").expect("docs/") {
        let name = entry.expect("an entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            guides += 1;
            let include = format!("include_str!(\"../../docs/{name}\")");
            assert!(
                modules.contains(&include),
                "docs/{name} is no module of src/guide/"
            );
        }
    }
    assert!(guides >= 7, "{guides} guides");
}
