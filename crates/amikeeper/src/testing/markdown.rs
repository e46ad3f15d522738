//! Fenced code blocks of Markdown, for the tests that check what the guides and the README show.

/// A fenced block of a Markdown text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedBlock {
    /// What follows the opening fence (`toml`, `sh`, ...).
    pub lang: String,
    /// The last line before the opening fence that is not blank.
    pub before: String,
    /// The 0-based line number of the block's first line (the 1-based number of its opening
    /// fence).
    pub first: usize,
    /// The 0-based line number of its closing fence: the block is lines `first..last`.
    pub last: usize,
    /// Its lines, each with the fence's indentation removed.
    pub lines: Vec<String>,
}

impl FencedBlock {
    /// Its text: each line and a newline.
    pub fn text(&self) -> String {
        self.lines.iter().map(|line| format!("{line}\n")).collect()
    }
}

/// Every fenced block of `markdown` (one that is not closed fails the test).
pub fn fenced_blocks(markdown: &str) -> Vec<FencedBlock> {
    let mut found = Vec::new();
    let mut open: Option<(usize, FencedBlock)> = None;
    let mut before = String::new();
    for (number, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None if trimmed.starts_with("```") => {
                let lang = trimmed.trim_start_matches('`').trim().to_owned();
                let block = FencedBlock {
                    lang,
                    before: before.clone(),
                    first: number + 1,
                    last: number + 1,
                    lines: Vec::new(),
                };
                open = Some((indent, block));
            }
            None if !trimmed.is_empty() => before = line.to_owned(),
            None => {}
            Some((_, block)) if trimmed == "```" => {
                block.last = number;
                found.extend(open.take().map(|(_, block)| block));
            }
            Some((fence_indent, block)) => block.lines.push(line[(*fence_indent).min(indent)..].to_owned()),
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_lines_the_line_before_and_lose_the_fences_indentation() {
        let blocks = fenced_blocks("Intro\n\nSee this:\n\n  ```toml\n  a = 1\n    b = 2\n  ```\ntext\n```\nx\n```\n");
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0],
            FencedBlock {
                lang: "toml".into(),
                before: "See this:".into(),
                first: 5,
                last: 7,
                lines: vec!["a = 1".into(), "  b = 2".into()]
            }
        );
        assert_eq!(blocks[0].text(), "a = 1\n  b = 2\n");
        assert_eq!((blocks[1].lang.as_str(), blocks[1].before.as_str(), blocks[1].text()), ("", "text", "x\n".into()));
    }
}
