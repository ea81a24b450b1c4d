//! An array's tasks that have not left its pending record are one job to Slurm, named with
//! their indices in brackets: `2189_[2-3%2]` in sacct, `ArrayTaskId=2-3%2` in `scontrol show
//! job`. yenjob follows each task by its own id (`2189_2`), as `squeue -r` names it.

/// `jobs` with each one named by a bracketed id (`id_of`) repeated for each of its tasks,
/// under the task's own id (`with_id`). A task that has a row of its own left the pending
/// record, so the bracketed row says nothing of it: accounting can still list the record
/// under the indices it had at submission (`291_[0-2%2]`, CANCELLED) beside the row of a task
/// that started from it and completed (`291_0`).
pub fn one_per_task<T: Clone>(
    jobs: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    with_id: impl Fn(T, String) -> T,
) -> Vec<T> {
    let own_rows: std::collections::HashSet<String> = jobs
        .iter()
        .map(&id_of)
        .filter(|id| !id.contains('['))
        .map(str::to_string)
        .collect();
    jobs.into_iter()
        .flat_map(|job| match expand(id_of(&job)) {
            Some(ids) => ids
                .into_iter()
                .filter(|id| !own_rows.contains(id))
                .map(|id| with_id(job.clone(), id))
                .collect(),
            None => vec![job],
        })
        .collect()
}

/// The most tasks one bracketed id is read as (Slurm's own MaxArraySize is at most 4M; a
/// sweep is far smaller).
const MAX_EXPANDED: u64 = 100_000;

/// `2189_[2-3,7,10-20:5%2]` as its task ids (`2189_2`, ...); `None` for any other id.
pub fn expand(id: &str) -> Option<Vec<String>> {
    let (array, list) = id.split_once("_[")?;
    let list = list.strip_suffix(']')?;
    let list = list.split_once('%').map_or(list, |(l, _)| l);
    let mut ids = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((r, s)) => (r, s.parse::<u64>().ok().filter(|&s| s > 0)?),
            None => (part, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?),
            None => {
                let n = range.parse::<u64>().ok()?;
                (n, n)
            }
        };
        if last < first || (last - first) / step + ids.len() as u64 >= MAX_EXPANDED {
            return None;
        }
        ids.extend(
            (first..=last)
                .step_by(step as usize)
                .map(|t| format!("{array}_{t}")),
        );
    }
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (CI, array 291): a stale pending record listed task 0, which had completed
    /// on its own row before it; read after that row, it made task 0 CANCELLED, and
    /// `submit --rerun-failed` ran it again.
    #[test]
    fn a_task_with_its_own_row_is_not_taken_from_a_pending_record() {
        let rows = [
            ("291_0", "COMPLETED"),
            ("291_[0-2%2]", "CANCELLED"),
            ("291_1", "COMPLETED"),
        ];
        let rows = rows.map(|(id, state)| (id.to_string(), state)).to_vec();
        let jobs = one_per_task(rows, |r| &r.0, |r, id| (id, r.1));
        let jobs: Vec<(&str, &str)> = jobs.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        assert_eq!(
            jobs,
            [
                ("291_0", "COMPLETED"),
                ("291_2", "CANCELLED"),
                ("291_1", "COMPLETED")
            ]
        );
    }

    #[test]
    fn a_bracketed_id_is_its_tasks() {
        assert_eq!(expand("2189_[2-3%2]").unwrap(), ["2189_2", "2189_3"]);
        assert_eq!(expand("2197_[1%1]").unwrap(), ["2197_1"]);
        assert_eq!(
            expand("7_[0,4-10:3%5]").unwrap(),
            ["7_0", "7_4", "7_7", "7_10"]
        );
        for odd in ["7_3", "7", "7_[3-1]", "7_[x]", "7_[1:0]", "7_[0-99999999]"] {
            assert_eq!(expand(odd), None, "{odd}");
        }
    }
}
