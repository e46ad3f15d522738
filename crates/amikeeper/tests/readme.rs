//! Every configuration in the README parses and validates: the docs cannot drift from the schema.

use amikeeper::Config;

#[test]
fn every_readme_configuration_is_valid() {
    let readme = include_str!("../../../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() >= 4, "the README's TOML blocks were not found ({} blocks)", blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        if let Err(error) = Config::from_toml(block) {
            panic!("README TOML block {} is not a valid configuration: {error}\n{block}", i + 1);
        }
    }
}
