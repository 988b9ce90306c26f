//! docs/guide.md ("your first driver") shows the crate `cargo wdm new first-driver` makes: every
//! Rust and TOML block of it is a piece of one of that crate's files (its fence names the file:
//! ```` ```rust file=src/lib.rs ````), in the file's order, and the blocks of `src/lib.rs` and
//! `src/main.rs` together are the whole file. Its second part, from the heading
//! [`PNP_PART`], shows the crate `cargo wdm new --pnp first-pnp` makes in the same way (with the
//! interface GUID the guide shows). tests/new.rs builds and tests both crates, so every block of
//! the guide compiles. Shell commands and output are `sh` and `text` blocks; the output of
//! `cargo wdm new` shown in each part is what it prints.

mod common;

use std::path::{Path, PathBuf};

use cargo_wdm::new::{Deps, Kind, files, names, report};
use common::{GUIDE_NAME, GUIDE_PNP_GUID, GUIDE_PNP_NAME, repo};

/// The heading that starts the guide's second part, the PnP driver.
const PNP_PART: &str = "# Your first PnP driver";

/// The files the guide shows completely.
const COMPLETE: &[&str] = &["src/lib.rs", "src/main.rs"];

/// The wdm checkout the guide's crate depends on.
const GUIDE_CHECKOUT: &str = "/home/you/wdm";

/// A fenced block: its info string's words, its text (indentation removed), the line it starts
/// on.
struct Block {
    info: Vec<String>,
    text: String,
    line: usize,
}

impl Block {
    fn language(&self) -> &str {
        self.info.first().map_or("", String::as_str)
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        self.info.iter().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }
}

fn blocks(guide: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Block)> = None;
    for (i, line) in guide.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let info = info.split_whitespace().map(str::to_owned).collect();
                    open = Some((
                        indent,
                        Block {
                            info,
                            text: String::new(),
                            line: i + 1,
                        },
                    ));
                }
            }
            Some((indent, block)) => {
                if trimmed == "```" {
                    blocks.push(open.take().unwrap().1);
                } else {
                    block.text.push_str(line.get(*indent..).unwrap_or(trimmed));
                    block.text.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is not closed");
    blocks
}

fn guide() -> String {
    std::fs::read_to_string(repo().join("docs/guide.md")).unwrap()
}

/// A part of the guide: its blocks, and the crate they show.
struct Part {
    title: &'static str,
    blocks: Vec<Block>,
    name: &'static str,
    kind: Kind,
    command: String,
}

/// The guide's two parts: the legacy driver, then (from [`PNP_PART`]) the PnP driver.
fn parts() -> [Part; 2] {
    let guide = guide();
    let split = guide
        .lines()
        .position(|l| l == PNP_PART)
        .unwrap_or_else(|| panic!("docs/guide.md has no `{PNP_PART}` heading"));
    let (first, second): (Vec<Block>, Vec<Block>) = blocks(&guide).into_iter().partition(|b| b.line <= split);
    [
        Part {
            title: "part one",
            blocks: first,
            name: GUIDE_NAME,
            kind: Kind::Legacy,
            command: format!("cargo wdm new {GUIDE_NAME}\n"),
        },
        Part {
            title: "part two (PnP)",
            blocks: second,
            name: GUIDE_PNP_NAME,
            kind: Kind::Pnp(GUIDE_PNP_GUID),
            command: format!("cargo wdm new --pnp {GUIDE_PNP_NAME}\n"),
        },
    ]
}

/// Checks that a part's Rust and TOML blocks are, in order, its crate's code, and that the
/// files in [`COMPLETE`] are shown whole; returns the problems and the number of blocks checked.
fn check_part(part: &Part) -> (Vec<String>, usize) {
    let deps = Deps::Path(PathBuf::from(GUIDE_CHECKOUT));
    let generated = files(part.name, &deps, &part.kind).unwrap();
    let file = |name: &str| -> Option<&String> { generated.iter().find(|(p, _)| p == Path::new(name)).map(|(_, t)| t) };
    // How far into each file the blocks so far have got, and what they skipped.
    let mut progress: Vec<(String, usize, String)> = Vec::new();
    let mut problems = Vec::new();
    let mut shown = 0;
    for block in &part.blocks {
        let at = format!("docs/guide.md:{}", block.line);
        match block.language() {
            "sh" | "text" => continue,
            "rust" | "toml" => {}
            other => {
                problems.push(format!("{at}: a `{other}` block (use rust, toml, sh or text)"));
                continue;
            }
        }
        if block.text.starts_with('\n') || block.text.ends_with("\n\n") {
            problems.push(format!("{at}: a block that starts or ends with an empty line"));
        }
        let Some(name) = block.attribute("file") else {
            problems.push(format!(
                "{at}: a {} block that names no file of the generated crate (```{} file=...)",
                block.language(),
                block.language()
            ));
            continue;
        };
        let Some(text) = file(name) else {
            problems.push(format!("{at}: the generated crate has no {name}"));
            continue;
        };
        let entry = match progress.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                progress.push((name.to_owned(), 0, String::new()));
                progress.len() - 1
            }
        };
        let (_, from, skipped) = &mut progress[entry];
        // A whole-line excerpt, found after the previous block of the same file.
        let found = text[*from..]
            .match_indices(&block.text)
            .map(|(i, _)| *from + i)
            .find(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n');
        match found {
            Some(i) => {
                skipped.push_str(&text[*from..i]);
                *from = i + block.text.len();
                shown += 1;
            }
            None => problems.push(format!(
                "{at}: this block is not in the generated {name} (after the previous block of it):\n{}",
                block.text
            )),
        }
    }
    for name in COMPLETE {
        match progress.iter().find(|(n, _, _)| n == name) {
            None => problems.push(format!("{} of the guide does not show {name}", part.title)),
            Some((_, from, skipped)) => {
                let rest = &file(name).unwrap()[*from..];
                let missing = format!("{skipped}{rest}");
                if !missing.trim().is_empty() {
                    problems.push(format!(
                        "{} of the guide leaves out part of {name}:\n{missing}",
                        part.title
                    ));
                }
            }
        }
    }
    (problems, shown)
}

#[test]
fn every_block_of_the_guide_is_the_generated_crates_code() {
    let mut problems = Vec::new();
    for part in parts() {
        let (found, shown) = check_part(&part);
        problems.extend(found);
        assert!(shown >= 15, "{}: only {shown} blocks checked", part.title);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_guide_makes_the_crates_the_tests_build_and_shows_what_cargo_wdm_new_prints() {
    let deps = Deps::Path(PathBuf::from(GUIDE_CHECKOUT));
    for part in parts() {
        assert!(
            part.blocks
                .iter()
                .any(|b| b.language() == "sh" && b.text == part.command),
            "{} runs `{}`",
            part.title,
            part.command.trim()
        );
        let dir = Path::new(part.name);
        let written: Vec<PathBuf> = files(part.name, &deps, &part.kind)
            .unwrap()
            .into_iter()
            .map(|(p, _)| dir.join(p))
            .collect();
        let printed = report(dir, &names(part.name).unwrap(), &deps, &part.kind, &written);
        let shown: Vec<&Block> = part
            .blocks
            .iter()
            .filter(|b| b.attribute("output") == Some("new"))
            .collect();
        assert_eq!(shown.len(), 1, "{}: one ```text output=new block", part.title);
        assert_eq!(shown[0].text, printed, "docs/guide.md:{}", shown[0].line);
    }
}

#[test]
fn the_block_parser_reads_fences_and_their_files() {
    let text = "a\n```rust file=src/lib.rs\nfn f() {}\n```\n- item\n\n  ```text\n  indented\n  ```\n";
    let b = blocks(text);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (b[0].language(), b[0].attribute("file"), b[0].text.as_str()),
        ("rust", Some("src/lib.rs"), "fn f() {}\n")
    );
    assert_eq!(
        (b[1].language(), b[1].text.as_str(), b[1].line),
        ("text", "indented\n", 7)
    );
}
