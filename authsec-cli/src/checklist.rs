//! The checklist every command prints: one line per item, `PASS`, `FAIL` or `SKIP`, and under a
//! failure the fix.

use std::fmt;

/// The outcome of one item.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The item holds.
    Pass,
    /// The item does not hold; the line below says how to fix it.
    Fail,
    /// The item could not be checked with what was given (e.g. no `--token`).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One line of a checklist.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Item {
    /// Pass, fail or skip.
    pub status: Status,
    /// What was checked and what was seen.
    pub text: String,
    /// How to fix a failure (or why an item was skipped).
    pub fix: Option<String>,
}

impl Item {
    /// A passing item.
    pub fn pass(text: impl Into<String>) -> Self {
        Item {
            status: Status::Pass,
            text: text.into(),
            fix: None,
        }
    }

    /// A failing item and its fix.
    pub fn fail(text: impl Into<String>, fix: impl Into<String>) -> Self {
        Item {
            status: Status::Fail,
            text: text.into(),
            fix: Some(fix.into()),
        }
    }

    /// A skipped item and what would let it run.
    pub fn skip(text: impl Into<String>, why: impl Into<String>) -> Self {
        Item {
            status: Status::Skip,
            text: text.into(),
            fix: Some(why.into()),
        }
    }
}

/// A titled list of items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checklist {
    /// The first line.
    pub title: String,
    /// Lines printed before the items (e.g. the decoded token).
    pub preamble: Vec<String>,
    /// The items, in the order checked.
    pub items: Vec<Item>,
}

impl Checklist {
    /// An empty checklist.
    pub fn new(title: impl Into<String>) -> Self {
        Checklist {
            title: title.into(),
            preamble: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Adds an item.
    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Whether no item failed (skipped items do not fail a checklist).
    pub fn passed(&self) -> bool {
        self.items.iter().all(|item| item.status != Status::Fail)
    }

    fn count(&self, status: Status) -> usize {
        self.items.iter().filter(|i| i.status == status).count()
    }
}

impl fmt::Display for Checklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.title)?;
        for line in &self.preamble {
            writeln!(f, "  {line}")?;
        }
        for item in &self.items {
            writeln!(f, "  {}  {}", item.status.label(), item.text)?;
            if let Some(fix) = &item.fix {
                let label = match item.status {
                    Status::Skip => "why",
                    _ => "fix",
                };
                writeln!(f, "        {label}: {fix}")?;
            }
        }
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.count(Status::Pass),
            self.count(Status::Fail),
            self.count(Status::Skip)
        )
    }
}
