//! Reads the routes a router declares from its source: `(METHOD, path)` for every `.route("/path",
//! get(a).post(b))` call, so a test can hold a list (the auth matrix, the OpenAPI document) to what
//! the code actually serves.
#![allow(dead_code)]
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// The text of a call's arguments: from just after its `(` to its matching `)`.
pub fn arguments(s: &str) -> &str {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for (i, c) in s.char_indices() {
        if in_str {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '(' | '{' | '[' => depth += 1,
            ')' if depth == 0 => return &s[..i],
            ')' | '}' | ']' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced call: {}", &s[..s.len().min(80)]);
}

/// The HTTP methods of a method router expression such as `get(a).post(b).delete(c)`.
pub fn methods_of(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr.trim();
    loop {
        let name_end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let name = rest[..name_end].rsplit("::").next().unwrap_or("");
        if !rest[name_end..].starts_with('(') {
            break;
        }
        if METHODS.contains(&name) {
            out.push(name.to_uppercase());
        }
        let args = arguments(&rest[name_end + 1..]);
        rest = rest[name_end + 1 + args.len() + 1..].trim_start();
        match rest.strip_prefix('.') {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    out
}

/// `(METHOD, path)` for every `.route(` call in `files`, each path prefixed by `prefix(file)`.
pub fn declared(
    files: &[PathBuf],
    prefix: impl Fn(&Path) -> &'static str,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("source file");
        let mut at = 0;
        while let Some(i) = text[at..].find(".route(") {
            let start = at + i + ".route(".len();
            let args = arguments(&text[start..]);
            at = start + args.len();
            let (path, handler) = args
                .trim()
                .strip_prefix('"')
                .and_then(|a| a.split_once('"'))
                .unwrap_or_else(|| panic!("{}: a route without a literal path", file.display()));
            let handler = handler.trim().trim_start_matches(',').trim();
            let mut methods = methods_of(handler);
            if methods.is_empty() {
                // `.route("/metrics", metrics)`: the method router is a local variable.
                let decl = format!("let {handler} = ");
                let j = text
                    .find(&decl)
                    .unwrap_or_else(|| panic!("{}: cannot resolve {handler}", file.display()));
                methods = methods_of(&text[j + decl.len()..]);
            }
            assert!(
                !methods.is_empty(),
                "{}: no method for {path}",
                file.display()
            );
            for m in methods {
                out.insert((m, format!("{}{path}", prefix(file))));
            }
        }
    }
    out
}

/// Every Rust file under `dir` (recursively), sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
