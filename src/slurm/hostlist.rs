//! Slurm's host lists: `gpu[01-03,07],login1` names five hosts. Reservations and jobs name
//! their nodes this way.

/// The host names of a host list, in order. A bracket that does not parse is kept as written,
/// so a name yenjob cannot expand still matches itself.
pub fn expand(list: &str) -> Vec<String> {
    split_top_level(list)
        .into_iter()
        .flat_map(|item| expand_one(item).unwrap_or_else(|| vec![item.to_string()]))
        .collect()
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

/// One item: `gpu[01-03,07]` (one bracket, with a suffix after it or not), or a plain name.
fn expand_one(item: &str) -> Option<Vec<String>> {
    let Some(open) = item.find('[') else {
        return Some(vec![item.to_string()]);
    };
    let close = open + item[open..].find(']')?;
    let (prefix, ranges, suffix) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
    let mut names = Vec::new();
    for range in ranges.split(',') {
        let (from, to) = range.split_once('-').unwrap_or((range, range));
        let width = from.len();
        let (a, b): (u64, u64) = (from.parse().ok()?, to.parse().ok()?);
        if b < a || b - a > 100_000 {
            return None;
        }
        for n in a..=b {
            // Expand the rest too: `r[1-2]n[1-2]`.
            for tail in expand_one(suffix)? {
                names.push(format!("{prefix}{n:0width$}{tail}"));
            }
        }
    }
    Some(names)
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
}
