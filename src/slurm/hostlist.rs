//! Slurm's host lists: `gpu[01-03,07],login1` names five hosts. Reservations and jobs name
//! their nodes this way, and a spec names the nodes a job may or may not use
//! (`nodelist`, `exclude`) so too.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The host names of a host list, in order. A bracket that does not parse is kept as written,
/// so a name yenjob cannot expand still matches itself.
pub fn expand(list: &str) -> Vec<String> {
    split_top_level(list)
        .into_iter()
        .flat_map(|item| expand_one(item).unwrap_or_else(|_| vec![item.to_string()]))
        .collect()
}

/// A host list a user wrote, checked as sbatch checks one: kept with its text as written
/// (what sbatch is given) and the names it expands to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostList {
    text: String,
    names: Vec<String>,
}

/// Why a host list's text is not one Slurm accepts. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostListError {
    #[error("the host list is empty")]
    Empty,
    #[error("a host name has no spaces or control characters (character {at})")]
    Space { at: usize },
    #[error("a host name is missing at character {at}")]
    MissingName { at: usize },
    #[error("the '[' at character {at} is not closed")]
    Unclosed { at: usize },
    #[error("']' at character {at} closes nothing")]
    Unopened { at: usize },
    #[error("{range:?} in brackets is not a number or a rising range of numbers such as 1-4")]
    BadRange { range: String },
}

impl HostList {
    pub fn parse(text: &str) -> Result<HostList, HostListError> {
        if text.trim().is_empty() {
            return Err(HostListError::Empty);
        }
        let mut open: Option<usize> = None;
        let mut item_start = true;
        for (i, c) in text.chars().enumerate() {
            let at = i + 1;
            if c.is_whitespace() || c.is_control() {
                return Err(HostListError::Space { at });
            }
            match c {
                '[' if open.is_none() => open = Some(at),
                // Slurm's brackets do not nest: a second `[` is inside the first's ranges.
                '[' => {
                    return Err(HostListError::Unclosed {
                        at: open.unwrap_or(at),
                    });
                }
                ']' if open.is_none() => return Err(HostListError::Unopened { at }),
                ']' => open = None,
                ',' if open.is_none() && item_start => {
                    return Err(HostListError::MissingName { at });
                }
                _ => {}
            }
            item_start = c == ',' && open.is_none();
        }
        if let Some(at) = open {
            return Err(HostListError::Unclosed { at });
        }
        if item_start {
            return Err(HostListError::MissingName {
                at: text.chars().count() + 1,
            });
        }
        let mut names = Vec::new();
        for item in split_top_level(text) {
            names.extend(expand_one(item).map_err(|range| HostListError::BadRange { range })?);
        }
        Ok(HostList {
            text: text.to_string(),
            names,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host names, in the order written.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

impl fmt::Display for HostList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HostList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HostList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HostList::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("host list {text:?}: {e}")))
    }
}

/// Why a nodelist is not one node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeNameError {
    #[error(transparent)]
    List(#[from] HostListError),
    #[error(
        "it names {count} nodes ({names}), and Slurm would give the job all of them while a yenjob job runs on one: name one node, or keep the job off nodes with `exclude`"
    )]
    Several { count: usize, names: String },
}

/// One node, named as a host list that expands to exactly one name (`yj1`, `gpu[07]`): the
/// node a job asks to run on (`--nodelist`). sbatch gives a job every node its nodelist
/// names, and a yenjob job runs on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeName(String);

impl NodeName {
    pub fn parse(text: &str) -> Result<NodeName, NodeNameError> {
        let list = HostList::parse(text)?;
        match list.names() {
            [one] => Ok(NodeName(one.clone())),
            many => Err(NodeNameError::Several {
                count: many.len(),
                names: abridged(many, 8),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for NodeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NodeName::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("nodelist {text:?}: {e}")))
    }
}

/// `yj1, yj2, ...`: at most `most` names, then an ellipsis.
pub fn abridged(names: &[impl AsRef<str>], most: usize) -> String {
    let shown: Vec<&str> = names.iter().take(most).map(AsRef::as_ref).collect();
    if names.len() > most {
        format!("{}, ...", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Splits at commas outside brackets: `a[1,2],b` is `a[1,2]` and `b`.
fn split_top_level(list: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&list[start..]);
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// One item: `gpu[01-03,07]` (one bracket, with a suffix after it or not), or a plain name;
/// a range that does not parse is the error.
fn expand_one(item: &str) -> Result<Vec<String>, String> {
    let Some(open) = item.find('[') else {
        return Ok(vec![item.to_string()]);
    };
    let close = open
        + item[open..]
            .find(']')
            .ok_or_else(|| item[open..].to_string())?;
    let (prefix, ranges, suffix) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
    let mut names = Vec::new();
    for range in ranges.split(',') {
        let (from, to) = range.split_once('-').unwrap_or((range, range));
        let width = from.len();
        let bad = || range.to_string();
        let (a, b): (u64, u64) = (
            from.parse().map_err(|_| bad())?,
            to.parse().map_err(|_| bad())?,
        );
        if b < a || b - a > 100_000 {
            return Err(bad());
        }
        for n in a..=b {
            // Expand the rest too: `r[1-2]n[1-2]`.
            for tail in expand_one(suffix)? {
                names.push(format!("{prefix}{n:0width$}{tail}"));
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ranges_lists_and_padding() {
        assert_eq!(expand("localhost"), ["localhost"]);
        assert_eq!(
            expand("gpu[01-03,07],login1"),
            ["gpu01", "gpu02", "gpu03", "gpu07", "login1"]
        );
        assert_eq!(expand("r[1-2]n[8-9]"), ["r1n8", "r1n9", "r2n8", "r2n9"]);
        assert_eq!(expand("node[9-10]"), ["node9", "node10"]);
        assert_eq!(expand(""), Vec::<String>::new());
    }

    #[test]
    fn what_does_not_parse_stays_as_written() {
        assert_eq!(expand("gpu[a-b]"), ["gpu[a-b]"]);
        assert_eq!(expand("gpu[3-1]"), ["gpu[3-1]"]);
        assert_eq!(expand("gpu[1"), ["gpu[1"]);
    }

    #[test]
    fn a_users_host_list_is_checked_as_sbatch_checks_it() {
        let list = HostList::parse("yj[1-2],gpu07").unwrap();
        assert_eq!(list.names(), ["yj1", "yj2", "gpu07"]);
        assert!(list.contains("yj2") && !list.contains("yj3"));
        assert_eq!(list.to_string(), "yj[1-2],gpu07");
        let err = |t: &str| HostList::parse(t).unwrap_err().to_string();
        assert_eq!(err(" "), "the host list is empty");
        assert_eq!(
            err("yj1 yj2"),
            "a host name has no spaces or control characters (character 4)"
        );
        assert_eq!(err("yj1,,yj2"), "a host name is missing at character 5");
        assert_eq!(err("yj1,"), "a host name is missing at character 5");
        assert_eq!(err(",yj1"), "a host name is missing at character 1");
        assert_eq!(err("yj[1-2"), "the '[' at character 3 is not closed");
        assert_eq!(err("yj[1[2]]"), "the '[' at character 3 is not closed");
        assert_eq!(err("yj1]"), "']' at character 4 closes nothing");
        assert_eq!(
            err("yj[2-1]"),
            "\"2-1\" in brackets is not a number or a rising range of numbers such as 1-4"
        );
        assert_eq!(
            err("yj[a]"),
            "\"a\" in brackets is not a number or a rising range of numbers such as 1-4"
        );
    }

    #[test]
    fn a_nodelist_names_one_node() {
        assert_eq!(NodeName::parse("yj1").unwrap().as_str(), "yj1");
        assert_eq!(NodeName::parse("gpu[07]").unwrap().as_str(), "gpu07");
        let many = NodeName::parse("yj[1-2]").unwrap_err().to_string();
        assert!(
            many.starts_with(
                "it names 2 nodes (yj1, yj2), and Slurm would give the job all of them"
            ),
            "{many}"
        );
        assert_eq!(
            NodeName::parse("yj[").unwrap_err().to_string(),
            "the '[' at character 3 is not closed"
        );
        let bad = serde_json::from_str::<NodeName>("\"a b\"").unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("nodelist \"a b\": a host name has no spaces"),
            "{bad}"
        );
    }
}
