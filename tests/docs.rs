//! Every public item of `wdm` is documented with an example (a fenced code block, which rustdoc
//! compiles as a doctest). Items hidden from the documentation (`#[doc(hidden)]`, and the
//! modules `host`, `print` and `string`'s encoder, which exist for macros) are exempt; a public
//! module needs its own `//!` documentation.

use std::path::Path;

const HIDDEN_FILES: &[&str] = &["host.rs", "print.rs"];

/// The `///` and attribute lines right above line `i`.
fn doc_above(lines: &[&str], i: usize) -> (bool, bool) {
    let (mut example, mut hidden) = (false, false);
    let mut j = i;
    let mut in_attribute = false;
    while j > 0 {
        j -= 1;
        let l = lines[j].trim();
        if l.starts_with("///") {
            example |= l.starts_with("/// ```");
        } else if l.starts_with("#[") || in_attribute {
            hidden |= l.contains("doc(hidden)");
            // Inside a multi-line attribute (entered at its `)]`) until its `#[` line.
            in_attribute = in_attribute && !l.starts_with("#[");
        } else if l.ends_with(")]") || l.starts_with(')') {
            in_attribute = true; // the end of a multi-line attribute
        } else {
            break;
        }
    }
    (example, hidden)
}

fn public_item(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix("pub ")?;
    let rest = rest
        .strip_prefix("const ")
        .filter(|r| r.starts_with("fn "))
        .unwrap_or(rest);
    let rest = rest.strip_prefix("unsafe ").unwrap_or(rest);
    let (kind, rest) = rest.split_once(' ')?;
    if !["fn", "struct", "enum", "trait", "type", "const", "mod"].contains(&kind) {
        return None;
    }
    let name = rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next()?;
    Some((kind, name))
}

#[test]
fn every_public_item_has_an_example() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    let mut checked = 0;
    // The crate's files, with those of its module directories (src/pnp/...).
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let file = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if HIDDEN_FILES.contains(&file.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some((kind, name)) = public_item(line) else {
                continue;
            };
            let (example, hidden) = doc_above(&lines, i);
            if hidden {
                continue;
            }
            checked += 1;
            if kind == "mod" {
                let dir = path.parent().unwrap();
                let module = std::fs::read_to_string(dir.join(format!("{name}.rs")))
                    .or_else(|_| std::fs::read_to_string(dir.join(name).join("mod.rs")))
                    .unwrap_or_default();
                if !module.starts_with("//!") {
                    missing.push(format!("{file}:{}: mod {name} has no //! documentation", i + 1));
                }
            } else if !example {
                missing.push(format!("{file}:{}: {kind} {name}", i + 1));
            }
        }
    }
    assert!(checked > 150, "the scan found only {checked} public items");
    assert!(
        missing.is_empty(),
        "public items without an example:\n{}",
        missing.join("\n")
    );
}
