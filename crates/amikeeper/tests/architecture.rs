//! The rules of ARCHITECTURE.md, checked on every test run:
//! - the modules of each crate form layers: no cycle among a crate's top-level modules, nor among
//!   the submodules of one module (a parent's `mod.rs` and its children are one unit);
//! - no source file outside the in-memory fakes (`crates/amikeeper/src/memory/`) and the tests is
//!   over 600 lines;
//! - no status or action of ours (lower-case words such as `"ok"`) is compared as a string:
//!   statuses are enums.
//!
//! The module graph is read with `syn`: every path that starts with `crate`, `super` or `self` in
//! non-test code (doc links are not code and do not count).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The longest a source file may be.
const MAX_LINES: usize = 600;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The Rust source directories of the workspace: each crate's `src`.
fn crate_sources() -> Vec<PathBuf> {
    let root = repo();
    let mut dirs = Vec::new();
    for parent in ["crates", "examples"] {
        for entry in std::fs::read_dir(root.join(parent)).unwrap() {
            let src = entry.unwrap().path().join("src");
            if src.is_dir() {
                dirs.push(src);
            }
        }
    }
    dirs.push(root.join("python/src"));
    dirs.sort();
    dirs
}

fn files_under(dir: &Path, ending: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, ending, out);
        } else if path.to_string_lossy().ends_with(ending) {
            out.push(path);
        }
    }
    out.sort();
}

/// A module's path inside its crate, from its file: `retain/sweep.rs` is `["retain", "sweep"]`,
/// `retain/mod.rs` is `["retain"]`, `lib.rs` and `main.rs` are the root `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg") && attr.meta.require_list().is_ok_and(|list| list.tokens.to_string() == "test")
    })
}

/// Collects the module paths a file names, as absolute paths in its crate.
struct References<'a> {
    here: &'a [String],
    found: BTreeSet<Vec<String>>,
}

impl References<'_> {
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.here.to_vec(),
            "super" => {
                let mut base = self.here.to_vec();
                base.pop()?;
                base
            }
            _ => return None,
        };
        let mut rest = rest;
        while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
            base.pop()?;
            rest = tail;
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn add(&mut self, segments: Vec<String>) {
        if let Some(path) = self.absolute(&segments) {
            self.found.insert(path);
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let mut full = prefix.clone();
                full.push(name.ident.to_string());
                self.add(full);
            }
            syn::UseTree::Rename(rename) => {
                let mut full = prefix.clone();
                full.push(rename.ident.to_string());
                self.add(full);
            }
            syn::UseTree::Glob(_) => self.add(prefix.clone()),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for References<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Macro(m) => &m.attrs,
            _ => &[],
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

/// The modules of one crate and the module paths each names.
fn crate_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    files_under(src, ".rs", &mut files);
    let mut graph = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let here = module_of(src, &file);
        let mut references = References { here: &here, found: BTreeSet::new() };
        for item in &parsed.items {
            references.visit_item(item);
        }
        let found = references.found;
        graph.insert(here, found);
    }
    graph
}

/// The child of `parent` that `path` lies in, if it lies below `parent` and is a known module.
fn child_of(parent: &[String], path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<String> {
    if path.len() <= parent.len() || path[..parent.len()] != *parent {
        return None;
    }
    let mut child = parent.to_vec();
    child.push(path[parent.len()].clone());
    modules.contains(&child).then(|| path[parent.len()].clone())
}

/// The groups of modules that reach each other through `edges` (each a cycle, or several), sorted.
fn find_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges.get(from).into_iter().flatten().collect();
        while let Some(node) = todo.pop() {
            if seen.insert(node.clone()) {
                todo.extend(edges.get(node).into_iter().flatten());
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = edges.keys().map(|node| (node, reach(node))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (node, from_node) in &reached {
        if !from_node.contains(*node) {
            continue;
        }
        let group = from_node
            .iter()
            .filter(|other| reached.get(other).is_some_and(|back| back.contains(*node)))
            .cloned()
            .collect();
        groups.insert(group);
    }
    groups.into_iter().collect()
}

/// The cycles among the children of each module of the crate at `src`.
fn cycles(src: &Path) -> Vec<String> {
    let graph = crate_graph(src);
    let modules: BTreeSet<Vec<String>> = graph.keys().cloned().collect();
    let mut found = Vec::new();
    for parent in &modules {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, references) in &graph {
            let Some(from) = child_of(parent, module, &modules) else { continue };
            for reference in references {
                if let Some(to) = child_of(parent, reference, &modules).filter(|to| *to != from) {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        let prefix = if parent.is_empty() { String::new() } else { format!("{}::", parent.join("::")) };
        for group in find_cycles(&edges) {
            let uses = |from: &String| {
                let to: Vec<&String> = edges[from].iter().filter(|to| group.contains(to)).collect();
                format!(
                    "{prefix}{from} uses {}",
                    to.iter().map(|to| format!("{prefix}{to}")).collect::<Vec<_>>().join(", ")
                )
            };
            let lines: Vec<String> = group.iter().map(uses).collect();
            found.push(format!("{}: {}", src.display(), lines.join("; ")));
        }
    }
    found
}

#[test]
fn no_crate_has_a_module_cycle() {
    let found: Vec<String> = crate_sources().iter().flat_map(|src| cycles(src)).collect();
    assert!(found.is_empty(), "module cycles (see ARCHITECTURE.md, \"Layers\"):\n{}", found.join("\n"));
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("config".to_owned(), ["retain".to_owned()].into()),
        ("retain".to_owned(), ["model".to_owned(), "config".to_owned()].into()),
        ("model".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(find_cycles(&edges), vec![vec!["config".to_owned(), "retain".to_owned()]]);
    let acyclic: BTreeMap<String, BTreeSet<String>> =
        [("config".to_owned(), ["model".to_owned()].into()), ("retain".to_owned(), ["config".to_owned()].into())]
            .into();
    assert!(find_cycles(&acyclic).is_empty());
}

#[test]
fn the_reference_reader_resolves_crate_super_and_use_groups() {
    let here = vec!["retain".to_owned(), "sweep".to_owned()];
    let file: syn::File = syn::parse_str(
        r#"
        use crate::{config::Config, model::{Image, Tags}};
        use super::check::ReferenceCheck;
        /// Not code: [`crate::keeper::Keeper`].
        fn f() -> super::super::events::AmiEvent { todo!() }
        #[cfg(test)]
        mod tests { use crate::memory::MemoryAws; }
        "#,
    )
    .unwrap();
    let mut references = References { here: &here, found: BTreeSet::new() };
    for item in &file.items {
        references.visit_item(item);
    }
    let found: Vec<String> = references.found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        ["config::Config", "events::AmiEvent", "model::Image", "model::Tags", "retain::check::ReferenceCheck"]
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut long = Vec::new();
    for src in crate_sources() {
        let mut files = Vec::new();
        files_under(&src, ".rs", &mut files);
        for file in files {
            // The in-memory fakes of AWS are test doubles, kept whole per service.
            if file.components().any(|c| c.as_os_str() == "memory") && file.starts_with(repo().join("crates/amikeeper"))
            {
                continue;
            }
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", file.strip_prefix(repo()).unwrap().display()));
            }
        }
    }
    assert!(long.is_empty(), "source files over {MAX_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn no_status_is_compared_as_a_string() {
    let pattern = regex::Regex::new(
        r#"(?x)
        \b(status|action)\s*[!=]=\s*["'][a-z_]+["']                      # report.status == "ok"
        | \[\s*["'](status|action)["']\s*\]\s*[!=]=\s*["'][a-z_]+["']    # report["status"] == "failed"
        | get\(\s*["'](status|action)["']\s*\)\s*[!=]=\s*["'][a-z_]+["'] # item.get("status") == "failed"
        | ["'][a-z_]+["']\s*[!=]=\s*\S*\b(status|action)\b               # "ok" == status
        "#,
    )
    .unwrap();
    let root = repo();
    let mut files = Vec::new();
    for src in crate_sources() {
        files_under(&src, ".rs", &mut files);
    }
    files_under(&root.join("python/py_src"), ".py", &mut files);
    let mut found = Vec::new();
    for file in files {
        for (number, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            if pattern.is_match(line) {
                found.push(format!("{}:{}: {}", file.strip_prefix(&root).unwrap().display(), number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "statuses compared as strings (compare the enums):\n{}", found.join("\n"));
}

#[test]
fn the_core_does_not_depend_on_the_aws_sdk() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("crates/amikeeper/Cargo.toml")).unwrap()).unwrap();
    let dependencies = manifest["dependencies"].as_table().unwrap();
    let sdk: Vec<&String> = dependencies.keys().filter(|name| name.starts_with("aws-")).collect();
    assert!(sdk.is_empty(), "the core crate depends on {sdk:?}: AWS SDK code belongs in amikeeper-aws");
    assert!(dependencies.contains_key("serde"), "the manifest was read: {dependencies:?}");
}

fn architecture_md() -> String {
    std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap()
}

/// Every file or folder `ARCHITECTURE.md` names (in backquotes, from the repository's root)
/// exists.
#[test]
fn every_path_architecture_md_names_exists() {
    let doc = architecture_md();
    let roots = ["crates/", "scripts/", "python/", "examples/", "docs/"];
    let mut missing = Vec::new();
    let mut seen = 0;
    for quoted in doc.split('`').skip(1).step_by(2) {
        if !roots.iter().any(|root| quoted.starts_with(root)) || quoted.contains(' ') {
            continue;
        }
        seen += 1;
        // `kinds/<kind>.rs`: the folder it goes in.
        let path = if quoted.contains('<') { quoted.rsplit_once('/').unwrap().0 } else { quoted };
        if !repo().join(path).exists() {
            missing.push(quoted);
        }
    }
    assert!(seen >= 30, "only {seen} paths read: is ARCHITECTURE.md's format still backquoted paths?");
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

/// The core's top-level modules and the modules each uses (tests aside).
fn core_edges() -> BTreeMap<String, BTreeSet<String>> {
    let graph = crate_graph(&repo().join("crates/amikeeper/src"));
    let modules: BTreeSet<Vec<String>> = graph.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, references) in &graph {
        let Some(from) = child_of(&[], module, &modules) else { continue };
        let uses = edges.entry(from.clone()).or_default();
        for reference in references {
            if let Some(to) = child_of(&[], reference, &modules).filter(|to| *to != from) {
                uses.insert(to);
            }
        }
    }
    edges
}

/// The table under "Layers" in `ARCHITECTURE.md` lists every top-level module of the core once,
/// and each module uses only modules of lower layers.
#[test]
fn the_core_modules_form_the_layers_of_architecture_md() {
    let doc = architecture_md();
    let section = doc.split("\n## Layers\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut layer_of: BTreeMap<String, u32> = BTreeMap::new();
    for row in section.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let Ok(layer) = cells[0].trim_start_matches("| ").parse::<u32>() else { continue };
        for module in cells[1].split('`').skip(1).step_by(2) {
            assert!(layer_of.insert(module.to_owned(), layer).is_none(), "{module} is listed twice");
        }
    }
    let edges = core_edges();
    let unlisted: Vec<&String> = edges.keys().filter(|module| !layer_of.contains_key(*module)).collect();
    let gone: Vec<&String> = layer_of.keys().filter(|module| !edges.contains_key(*module)).collect();
    assert!(unlisted.is_empty(), "modules missing from ARCHITECTURE.md's layer table: {unlisted:?}");
    assert!(gone.is_empty(), "ARCHITECTURE.md's layer table lists modules that do not exist: {gone:?}");
    let mut upward = Vec::new();
    for (from, uses) in &edges {
        for to in uses.iter().filter(|to| layer_of[*to] >= layer_of[from]) {
            upward.push(format!("{from} (layer {}) uses {to} (layer {})", layer_of[from], layer_of[to]));
        }
    }
    assert!(
        upward.is_empty(),
        "a module uses one of its layer or above (move it, or fix the table):\n{}",
        upward.join("\n")
    );
}

/// The README's "Workspace" table names every crate and folder of the workspace that exists,
/// and only those; the core's row names modules that exist.
#[test]
fn the_readme_workspace_section_matches_the_layout() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("\n## Workspace\n").nth(1).unwrap().split("\n## ").next().unwrap();
    let rows: Vec<(&str, &str)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            (cells[0].trim_start_matches("| ").trim_matches('`'), cells[1])
        })
        .collect();
    for (path, _) in &rows {
        assert!(repo().join(path).exists(), "README's Workspace names {path}, which does not exist");
    }
    let members: toml::Table = toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    for member in members["workspace"]["members"].as_array().unwrap() {
        let member = member.as_str().unwrap().trim_end_matches("/*").trim_end_matches('/');
        let listed = rows.iter().any(|(path, _)| member == path.trim_end_matches('/') || member.starts_with(path));
        assert!(listed, "README's Workspace does not list the workspace member {member}");
    }
    let core = rows.iter().find(|(path, _)| *path == "crates/amikeeper").expect("a row for the core").1;
    let src = repo().join("crates/amikeeper/src");
    for module in core.split('`').skip(1).step_by(2) {
        let name = module.trim_end_matches('/');
        let exists = src.join(name).is_dir() || src.join(format!("{name}.rs")).is_file();
        assert!(
            exists || module.contains(char::is_uppercase),
            "README's Workspace names the core module {module}, which does not exist"
        );
    }
}
