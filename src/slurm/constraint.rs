//! A job's `--constraint`: node features joined by `&` (or `,`) and `|`, grouped by
//! parentheses or brackets; a pure parser and the test of a node's features against it.
//!
//! Slurm 22.05 reads the operators left to right, neither binding tighter than the other:
//! `ib|ampere&hopper` is `(ib|ampere)&hopper` (captured: in a partition of one node with
//! `ampere,ib`, sbatch refuses it). A yenjob job runs on one node, so a count (`ampere*2`)
//! does not apply, and brackets (a matching OR across a job's nodes) group as parentheses do.
//!
//! Jobs queued by others may have counts (`Constraint::parse_queued`). As captured on the
//! multi shape by `scripts/capture-constraint-counts.sh` (`tests/fixtures/constraint-counts/`),
//! 22.05 and 24.11 alike: `-N2 -C hopper*1` ran on yj2 (hopper) and yj1 (without);
//! `-N1 -C hopper*1` ran on yj2; `-N1 -C hopper*2`, with one such node, was refused.
//! 24.11 also refuses a count beside an uncounted feature or an OR. (`sbatch --test-only`
//! ignores the count: it named yj1 for `-N1 -C hopper*1`.)

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed constraint, kept with its text as written (what sbatch is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    text: String,
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Feature(String),
    /// `name*count`: `count` of a job's nodes have the feature, the others need not.
    Counted(String, u64),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Why a constraint's text is not one Slurm accepts. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("the constraint is empty")]
    Empty,
    #[error("a feature name has no spaces or control characters (character {at})")]
    Space { at: usize },
    #[error("a feature is missing at character {at}")]
    MissingFeature { at: usize },
    #[error("an operator (`&`, `|` or `,`) is missing at character {at}")]
    MissingOperator { at: usize },
    #[error("{found:?} at character {at} closes nothing")]
    Unopened { found: char, at: usize },
    #[error("the {open:?} at character {at} is not closed")]
    Unclosed { open: char, at: usize },
    #[error(
        "a count (`*N` at character {at}) asks for nodes with a feature, and a yenjob job runs on one node: drop it"
    )]
    Count { at: usize },
    #[error("a count (`*N` at character {at}) is a whole number from 1")]
    BadCount { at: usize },
    #[error("a count (`*N` at character {at}) follows a feature's name, not a group")]
    CountedGroup { at: usize },
}

impl Constraint {
    /// A yenjob job's: one node, so no counts.
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        Constraint::parse_with(text, false)
    }

    /// A queued job's, as squeue shows it: a job of several nodes may give a feature a count.
    pub fn parse_queued(text: &str) -> Result<Constraint, ConstraintError> {
        Constraint::parse_with(text, true)
    }

    fn parse_with(text: &str, counts: bool) -> Result<Constraint, ConstraintError> {
        if text.trim().is_empty() {
            return Err(ConstraintError::Empty);
        }
        let chars: Vec<char> = text.chars().collect();
        let mut parser = Parser {
            chars,
            at: 0,
            counts,
        };
        let expr = parser.expr(None)?;
        Ok(Constraint {
            text: text.to_string(),
            expr,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a node with these features satisfies it, as the one node of a job.
    pub fn matches(&self, features: &[String]) -> bool {
        self.expr.matches(features, 1)
    }

    /// Whether a node with these features may be one of a job's `nodes`: a feature counted on
    /// fewer nodes than that is not needed on each.
    pub fn admits(&self, features: &[String], nodes: u64) -> bool {
        self.expr.matches(features, nodes)
    }

    /// The features counted (`name*count`) where each count must be met: joined by AND to
    /// the rest, not under an OR.
    pub fn counts(&self) -> Vec<(&str, u64)> {
        let mut counts = Vec::new();
        self.expr.collect_counts(&mut counts);
        counts
    }

    /// The feature names it uses, each once, in the order written.
    pub fn features(&self) -> Vec<&str> {
        let mut all = Vec::new();
        self.expr.collect(&mut all);
        let mut names: Vec<&str> = Vec::new();
        for name in all {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

impl Expr {
    fn matches(&self, features: &[String], nodes: u64) -> bool {
        let has = |name: &String| features.iter().any(|f| f == name);
        match self {
            Expr::Feature(name) => has(name),
            Expr::Counted(name, count) => *count < nodes || has(name),
            Expr::And(a, b) => a.matches(features, nodes) && b.matches(features, nodes),
            Expr::Or(a, b) => a.matches(features, nodes) || b.matches(features, nodes),
        }
    }

    fn collect_counts<'a>(&'a self, counts: &mut Vec<(&'a str, u64)>) {
        match self {
            Expr::Counted(name, count) => counts.push((name, *count)),
            Expr::And(a, b) => {
                a.collect_counts(counts);
                b.collect_counts(counts);
            }
            Expr::Feature(_) | Expr::Or(..) => {}
        }
    }

    fn collect<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Expr::Feature(name) | Expr::Counted(name, _) => names.push(name),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect(names);
                b.collect(names);
            }
        }
    }
}

/// Characters that are Slurm's operators, never part of a feature's name.
const OPERATORS: &str = "&|,()[]*";

struct Parser {
    chars: Vec<char>,
    at: usize,
    /// Whether a feature may be given a count (`ampere*2`).
    counts: bool,
}

impl Parser {
    /// Operands joined by operators, folded left to right, up to `close` (or the end).
    fn expr(&mut self, close: Option<(char, usize)>) -> Result<Expr, ConstraintError> {
        let mut expr = self.operand()?;
        loop {
            match self.chars.get(self.at).copied() {
                None => {
                    return match close {
                        Some((open, at)) => Err(ConstraintError::Unclosed { open, at: at + 1 }),
                        None => Ok(expr),
                    };
                }
                Some(c @ (')' | ']')) => {
                    return match close {
                        Some((open, _)) if c == closing(open) => {
                            self.at += 1;
                            Ok(expr)
                        }
                        _ => Err(ConstraintError::Unopened {
                            found: c,
                            at: self.at + 1,
                        }),
                    };
                }
                Some(op @ ('&' | ',' | '|')) => {
                    self.at += 1;
                    let next = self.operand()?;
                    expr = if op == '|' {
                        Expr::Or(Box::new(expr), Box::new(next))
                    } else {
                        Expr::And(Box::new(expr), Box::new(next))
                    };
                }
                Some('*') if !self.counts => {
                    return Err(ConstraintError::Count { at: self.at + 1 });
                }
                // After a group: Slurm counts features, not groups.
                Some('*') => return Err(ConstraintError::CountedGroup { at: self.at + 1 }),
                // An operand right after an operand: `(a)b`.
                Some(_) => return Err(ConstraintError::MissingOperator { at: self.at + 1 }),
            }
        }
    }

    /// A feature's name, or a group in parentheses or brackets.
    fn operand(&mut self) -> Result<Expr, ConstraintError> {
        match self.chars.get(self.at).copied() {
            Some(open @ ('(' | '[')) => {
                let at = self.at;
                self.at += 1;
                self.expr(Some((open, at)))
            }
            _ => {
                let start = self.at;
                while let Some(&c) = self.chars.get(self.at) {
                    if c.is_whitespace() || c.is_control() {
                        return Err(ConstraintError::Space { at: self.at + 1 });
                    }
                    if OPERATORS.contains(c) {
                        break;
                    }
                    self.at += 1;
                }
                if self.at == start {
                    return Err(ConstraintError::MissingFeature { at: start + 1 });
                }
                let name: String = self.chars[start..self.at].iter().collect();
                if self.counts && self.chars.get(self.at) == Some(&'*') {
                    return Ok(Expr::Counted(name, self.count()?));
                }
                Ok(Expr::Feature(name))
            }
        }
    }

    /// The count after a feature's `*`.
    fn count(&mut self) -> Result<u64, ConstraintError> {
        let star = self.at;
        self.at += 1;
        while self.chars.get(self.at).is_some_and(char::is_ascii_digit) {
            self.at += 1;
        }
        let digits: String = self.chars[star + 1..self.at].iter().collect();
        digits
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(ConstraintError::BadCount { at: star + 1 })
    }
}

fn closing(open: char) -> char {
    if open == '(' { ')' } else { ']' }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Constraint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Constraint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Constraint::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("constraint {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(features: &str) -> Vec<String> {
        features.split(',').map(str::to_string).collect()
    }

    fn on(constraint: &str, features: &str) -> bool {
        Constraint::parse(constraint)
            .unwrap()
            .matches(&node(features))
    }

    #[test]
    fn features_joined_by_and_or() {
        assert!(on("ampere", "ampere,ib"));
        assert!(!on("hopper", "ampere,ib"));
        assert!(on("ampere&ib", "ampere,ib"));
        // A comma is an AND, as sbatch shows it (`ampere,ib` → `ampere&ib`).
        assert!(on("ampere,ib", "ampere,ib"));
        assert!(!on("ampere,hopper", "ampere,ib"));
        assert!(on("hopper|ampere", "ampere,ib"));
    }

    /// Captured from Slurm 22.05: `ib|ampere&hopper` on a node with ampere and ib was refused
    /// (it reads `(ib|ampere)&hopper`), and `ampere&hopper|ib` ran.
    #[test]
    fn operators_read_left_to_right() {
        assert!(!on("ib|ampere&hopper", "ampere,ib"));
        assert!(on("ampere&hopper|ib", "ampere,ib"));
        assert!(on("ib|(ampere&hopper)", "ampere,ib"));
        assert!(on("[ampere|hopper]&ib", "ampere,ib"));
    }

    #[test]
    fn features_named_once_in_order() {
        let c = Constraint::parse("(ampere|hopper)&ib|ampere").unwrap();
        assert_eq!(c.features(), ["ampere", "hopper", "ib"]);
        assert_eq!(c.to_string(), "(ampere|hopper)&ib|ampere");
    }

    #[test]
    fn what_slurm_refuses_is_named_with_its_place() {
        let err = |t: &str| Constraint::parse(t).unwrap_err().to_string();
        assert_eq!(err(""), "the constraint is empty");
        assert_eq!(
            err("amp ere"),
            "a feature name has no spaces or control characters (character 4)"
        );
        assert_eq!(err("ampere&&ib"), "a feature is missing at character 8");
        assert_eq!(err("ampere|"), "a feature is missing at character 8");
        assert_eq!(err("(ampere"), "the '(' at character 1 is not closed");
        assert_eq!(err("ampere)"), "')' at character 7 closes nothing");
        assert_eq!(err("(ampere]"), "']' at character 8 closes nothing");
        assert_eq!(
            err("(a)b"),
            "an operator (`&`, `|` or `,`) is missing at character 4"
        );
        assert!(err("ampere*2").starts_with("a count (`*N` at character 7)"));
    }

    /// A queued job's counts, as captured (module comment): `-N2 -C hopper*1` ran on yj2
    /// (hopper) and yj1 (without), `-N1 -C hopper*1` on yj2 alone.
    #[test]
    fn a_count_needs_its_feature_on_that_many_of_a_jobs_nodes() {
        let c = Constraint::parse_queued("ib&hopper*1").unwrap();
        assert!(c.admits(&node("ampere,ib"), 2));
        assert!(!c.admits(&node("ampere,ib"), 1));
        assert!(!c.admits(&node("hopper"), 2), "ib is on every node");
        assert!(c.matches(&node("hopper,ib")));
        assert_eq!(c.counts(), [("hopper", 1)]);
        assert_eq!(c.features(), ["ib", "hopper"]);
        let both = Constraint::parse_queued("[rack1*2&rack2*4]").unwrap();
        assert_eq!(both.counts(), [("rack1", 2), ("rack2", 4)]);
        // Under an OR a count need not be met.
        let either = Constraint::parse_queued("ampere*1|hopper").unwrap();
        assert_eq!(either.counts(), []);
        assert!(either.admits(&node("ib"), 2));
        let err = |t: &str| Constraint::parse_queued(t).unwrap_err().to_string();
        assert_eq!(
            err("a*0"),
            "a count (`*N` at character 2) is a whole number from 1"
        );
        assert_eq!(
            err("a*x"),
            "a count (`*N` at character 2) is a whole number from 1"
        );
        assert_eq!(
            err("(a)*2"),
            "a count (`*N` at character 4) follows a feature's name, not a group"
        );
    }

    /// Every request of `scripts/capture-constraint-counts.sh` as Slurm (22.05 and 24.11)
    /// decided it. Where it ran, each of its nodes admits it and they meet its counts; where
    /// no node configuration was available, no set of that many nodes does. (24.11 refuses
    /// a count beside an uncounted feature or an OR as an invalid feature specification:
    /// such a job is never queued.)
    #[test]
    fn counts_read_as_slurm_ran_them() {
        let captures = [
            include_str!("../../tests/fixtures/constraint-counts/slurm-22.05.txt"),
            include_str!("../../tests/fixtures/constraint-counts/slurm-24.11.txt"),
        ];
        for capture in captures {
            // `# yj1 ampere,ib`: a node and its features.
            let features: Vec<(&str, Vec<String>)> = capture
                .lines()
                .filter_map(|l| l.strip_prefix("# ")?.split_once(' '))
                .filter(|(node, _)| node.starts_with("yj"))
                .map(|(name, f)| (name, node(f)))
                .collect();
            assert_eq!(features.len(), 2);
            let of = |node: &str| &features.iter().find(|(n, _)| *n == node).unwrap().1;
            let meets = |c: &Constraint, nodes: &[&str]| {
                let n = nodes.len() as u64;
                nodes.iter().all(|node| c.admits(of(node), n))
                    && c.counts().iter().all(|&(feature, count)| {
                        let with = nodes
                            .iter()
                            .filter(|node| of(node).iter().any(|f| f == feature));
                        with.count() as u64 >= count
                    })
            };
            for line in capture.lines().filter(|l| !l.starts_with('#')) {
                // NODES|CONSTRAINT|OUTCOME|DETAIL, where the constraint may hold `|`.
                let (nodes, rest) = line.split_once('|').unwrap();
                let mut tail = rest.rsplitn(3, '|');
                let (detail, outcome, text) = (
                    tail.next().unwrap(),
                    tail.next().unwrap(),
                    tail.next().unwrap(),
                );
                let n: usize = nodes.parse().unwrap();
                let c = Constraint::parse_queued(text).unwrap();
                match outcome {
                    "ran" => {
                        let ran_on = crate::slurm::hostlist::expand(detail);
                        let ran_on: Vec<&str> = ran_on.iter().map(String::as_str).collect();
                        assert_eq!(ran_on.len(), n, "{line}");
                        assert!(meets(&c, &ran_on), "{line}");
                    }
                    "refused" if detail.contains("node configuration is not available") => {
                        let names: Vec<&str> = features.iter().map(|(node, _)| *node).collect();
                        let sets: Vec<Vec<&str>> = match n {
                            1 => names.iter().map(|node| vec![*node]).collect(),
                            _ => vec![names.clone()],
                        };
                        assert!(sets.iter().all(|set| !meets(&c, set)), "{line}");
                    }
                    _ => assert!(detail.contains("Invalid feature specification"), "{line}"),
                }
            }
        }
    }

    #[test]
    fn kept_as_its_text_in_json() {
        let c: Constraint = serde_json::from_str("\"ampere&ib\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"ampere&ib\"");
        let bad = serde_json::from_str::<Constraint>("\"a||b\"").unwrap_err();
        assert!(
            bad.to_string()
                .contains("constraint \"a||b\": a feature is missing at character 3"),
            "{bad}"
        );
    }
}
