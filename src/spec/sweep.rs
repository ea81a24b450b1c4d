//! `[sweep]`: lists of `[train]` values whose cartesian product is a job array. Task `i` is the
//! spec with one value of each list in place: the keys in the order the file writes them, the
//! last key varying fastest (nested loops, top to bottom). Every value is checked as a
//! `[train]` value while the spec is read, so a bad one names its file, line and key.

use std::fmt;

use serde::Deserialize;

use super::values::Positive;

/// The most tasks a sweep may have: Slurm's own MaxArraySize tops out at 4,000,001, and a grid
/// this large is a typo, not a plan.
pub const MAX_TASKS: usize = 100_000;

/// One swept `[train]` key and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// The grid: the axes in file order, and how many tasks may run at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub axes: Vec<Axis>,
    /// `max_parallel`: at most this many tasks at once (the pre-flight may lower it).
    pub max_parallel: Option<u32>,
}

/// One point of the grid: the swept keys and this task's value of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub index: usize,
    pub values: Vec<(String, toml::Value)>,
}

impl Sweep {
    /// How many tasks: the product of the list lengths.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn keys(&self) -> Vec<String> {
        self.axes.iter().map(|a| a.key.clone()).collect()
    }

    /// Task `index`'s values (`index < len()`): the last axis varies fastest.
    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut values = Vec::with_capacity(self.axes.len());
        for axis in self.axes.iter().rev() {
            let n = axis.values.len();
            values.push((axis.key.clone(), axis.values[rest % n].clone()));
            rest /= n;
        }
        values.reverse();
        Point { index, values }
    }

    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        (0..self.len()).map(|i| self.point(i))
    }
}

impl Point {
    /// `learning_rate=2e-5 seed=1`: how a task is named to a person.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={}", ValueText(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A TOML value as it would be written in a spec (strings without quotes).
pub struct ValueText<'a>(pub &'a toml::Value);

impl fmt::Display for ValueText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            toml::Value::String(s) => f.write_str(s),
            toml::Value::Float(x) => f.write_str(&float_text(*x)),
            other => write!(f, "{other}"),
        }
    }
}

/// A float in the shorter of its plain and scientific forms: `0.1`, `2e-5`.
pub fn float_text(x: f64) -> String {
    let plain = format!("{x}");
    let scientific = format!("{x:e}");
    if scientific.len() < plain.len() {
        scientific
    } else {
        plain
    }
}

/// `[sweep]` as written: each key's value with its place in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(super) struct RawSweep(pub std::collections::BTreeMap<String, toml::Spanned<toml::Value>>);

/// Why a swept value is refused.
pub(super) enum ValueProblem {
    /// The key is not a `[train]` key: the entry is at fault, not one of its values.
    NotATrainKey(String),
    /// This value is not one the key takes.
    Invalid(String),
}

/// What is wrong with a `[sweep]` entry, and where.
pub(super) struct SweepProblem {
    pub key: String,
    pub message: String,
    /// The entry's place in the file.
    pub span: std::ops::Range<usize>,
    /// The list element at fault, when one is: (the sweep key, its index).
    pub element: Option<(String, usize)>,
}

impl SweepProblem {
    /// Where in `text` the problem lies: the element at fault when there is one, else the
    /// entry. (serde's spans stop at the entry; toml_edit's document has one for each element.)
    pub(super) fn span_in(&self, text: &str) -> std::ops::Range<usize> {
        let element = self.element.as_ref().and_then(|(key, i)| {
            let doc = toml_edit::Document::parse(text).ok()?;
            doc.as_table()
                .get("sweep")?
                .get(key)?
                .as_array()?
                .get(*i)?
                .span()
        });
        element.unwrap_or_else(|| self.span.clone())
    }
}

impl RawSweep {
    /// Checks the shape of each entry (a list, not empty, no value twice); each value is then
    /// checked as a `[train]` value by `check_value`, which names the key on failure.
    pub(super) fn into_sweep(
        self,
        mut check_value: impl FnMut(&str, &toml::Value) -> Result<(), ValueProblem>,
    ) -> Result<Option<Sweep>, SweepProblem> {
        let mut entries: Vec<(String, toml::Spanned<toml::Value>)> = self.0.into_iter().collect();
        entries.sort_by_key(|(_, v)| v.span().start);
        let mut max_parallel = None;
        let mut axes = Vec::new();
        for (key, spanned) in entries {
            let span = spanned.span();
            let problem = |key: String, message: String| SweepProblem {
                key,
                message,
                span: span.clone(),
                element: None,
            };
            let at = |i: usize, message: String| SweepProblem {
                element: Some((key.clone(), i)),
                ..problem(format!("sweep.{key}[{i}]"), message)
            };
            let value = spanned.into_inner();
            if key == "max_parallel" {
                let n = Positive::<u32>::deserialize(value)
                    .map_err(|e| problem(format!("sweep.{key}"), e.message().to_string()))?;
                max_parallel = Some(n.0);
                continue;
            }
            let toml::Value::Array(values) = value else {
                return Err(problem(
                    format!("sweep.{key}"),
                    format!(
                        "a sweep key takes a list of the values to try, like {key} = [{value}]"
                    ),
                ));
            };
            if values.is_empty() {
                return Err(problem(
                    format!("sweep.{key}"),
                    "the list is empty: give at least one value".into(),
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    return Err(at(
                        i,
                        format!("{v} appears twice in the list; each value once"),
                    ));
                }
                check_value(&key, v).map_err(|p| match p {
                    ValueProblem::NotATrainKey(m) => problem(format!("sweep.{key}"), m),
                    ValueProblem::Invalid(m) => at(i, m),
                })?;
            }
            axes.push(Axis { key, values });
        }
        if axes.is_empty() {
            return Ok(None);
        }
        let sweep = Sweep { axes, max_parallel };
        let tasks = sweep
            .axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
            .filter(|n| *n <= MAX_TASKS);
        if tasks.is_none() {
            return Err(SweepProblem {
                key: "sweep".into(),
                message: format!(
                    "the grid has more than {MAX_TASKS} tasks; split it into several sweeps"
                ),
                span: 0..0,
                element: None,
            });
        }
        Ok(Some(sweep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(axes: &[(&str, Vec<toml::Value>)]) -> Sweep {
        Sweep {
            axes: axes
                .iter()
                .map(|(k, v)| Axis {
                    key: k.to_string(),
                    values: v.clone(),
                })
                .collect(),
            max_parallel: None,
        }
    }

    #[test]
    fn the_last_key_varies_fastest() {
        let s = sweep(&[
            ("learning_rate", vec![1e-5.into(), 2e-5.into(), 5e-5.into()]),
            ("seed", vec![1.into(), 2.into()]),
        ]);
        assert_eq!(s.len(), 6);
        let labels: Vec<String> = s.points().map(|p| p.label()).collect();
        assert_eq!(
            labels,
            [
                "learning_rate=1e-5 seed=1",
                "learning_rate=1e-5 seed=2",
                "learning_rate=2e-5 seed=1",
                "learning_rate=2e-5 seed=2",
                "learning_rate=5e-5 seed=1",
                "learning_rate=5e-5 seed=2",
            ]
        );
    }

    const BASE: &str = "[job]\nname = \"s\"\npartition = \"gpu\"\ntime = \"10:00\"\n\n[train]\ndata = \"d.txt\"\nmodel = \"m\"\nseed = 42\n\n";

    fn parse(sweep: &str) -> Result<crate::spec::JobSpec, String> {
        let text = format!("{BASE}[sweep]\n{sweep}");
        crate::spec::JobSpec::parse(
            &text,
            std::path::Path::new("s.toml"),
            std::path::Path::new("/b"),
        )
        .map_err(|e| e.to_string())
    }

    /// Regression: `submit SPEC --time 2:00:00` was accepted and ignored (clap waived its
    /// `requires = "rerun_failed"` since SPEC conflicts with that). The flags now set the
    /// limits, written into the text every task's worker reads as Slurm writes them.
    #[test]
    fn flags_set_the_limits_of_every_task() {
        let mut spec = parse("seed = [1, 2]\n").unwrap();
        spec.set_limits(
            Some(crate::slurm::duration::SlurmDuration(7200)),
            Some(crate::spec::Memory("16G".into())),
        );
        assert_eq!(spec.job.time.seconds(), 7200);
        for i in 0..2 {
            let task = spec.task(i).unwrap();
            assert_eq!(task.job.time.seconds(), 7200);
            assert_eq!(task.job.mem.as_ref().map(|m| m.0.as_str()), Some("16G"));
            assert!(
                task.source_text
                    .contains("time = \"2:00:00\" # from flag\n")
                    && task.source_text.contains("mem = \"16G\" # from flag\n"),
                "{}",
                task.source_text
            );
        }
        spec.set_limits(None, None);
        assert_eq!(spec.job.time.seconds(), 7200);
    }

    #[test]
    fn a_grid_in_file_order_and_each_task_a_spec_of_its_own() {
        let spec =
            parse("seed = [1, 2, 3]\nlearning_rate = [1e-5, 2e-5, 5e-5]\nmax_parallel = 2\n")
                .unwrap();
        let sweep = spec.sweep.clone().unwrap();
        assert_eq!(sweep.keys(), ["seed", "learning_rate"]);
        assert_eq!(sweep.len(), 9);
        assert_eq!(sweep.max_parallel, Some(2));
        let task = spec.task(5).unwrap();
        assert_eq!(task.train.seed, 2);
        assert_eq!(task.train.learning_rate.0, 5e-5);
        assert!(task.sweep.is_none());
        assert!(
            task.source_text
                .starts_with("# Task 5 of the sweep in s.toml: seed=2 learning_rate=5e-5\n"),
            "{}",
            task.source_text
        );
        assert!(
            !task.source_text.contains("[sweep]"),
            "{}",
            task.source_text
        );
        // The task's text is what the worker reads: it parses to the same values.
        let again = crate::spec::JobSpec::parse(
            &task.source_text,
            std::path::Path::new("t"),
            std::path::Path::new("/b"),
        )
        .unwrap();
        assert_eq!(again.train.learning_rate.0, 5e-5);
        assert!(spec.task(9).is_err());
    }

    #[test]
    fn without_a_sweep_nothing_changes() {
        let spec = crate::spec::JobSpec::parse(
            BASE,
            std::path::Path::new("s.toml"),
            std::path::Path::new("/b"),
        )
        .unwrap();
        assert!(spec.sweep.is_none());
        assert!(parse("max_parallel = 3\n").unwrap().sweep.is_none());
    }

    #[test]
    fn bad_sweeps_name_file_line_and_key() {
        let cases = [
            (
                "lr = [1e-5]\n",
                "s.toml:12:6: `sweep.lr`: `lr` is not a [train] key",
            ),
            (
                "seed = []\n",
                "s.toml:12:8: `sweep.seed`: the list is empty",
            ),
            (
                "seed = [1, 2, 1]\n",
                "s.toml:12:15: `sweep.seed[2]`: 1 appears twice",
            ),
            (
                "seed = 3\n",
                "`sweep.seed`: a sweep key takes a list of the values to try, like seed = [3]",
            ),
            (
                "learning_rate = [1e-5, -1.0]\n",
                "s.toml:12:24: `sweep.learning_rate[1]`: -1 must be a number above 0",
            ),
            (
                "epochs = [1, 0]\n",
                "s.toml:12:14: `sweep.epochs[1]`: 0 must be a whole number",
            ),
            (
                "max_parallel = 0\n",
                "`sweep.max_parallel`: 0 must be a whole number",
            ),
            (
                "seed = [1]\nlearning_rate = [\"fast\"]\n",
                "s.toml:13:18: `sweep.learning_rate[0]`: invalid type",
            ),
        ];
        for (sweep, expected) in cases {
            let e = parse(sweep).unwrap_err();
            assert!(e.contains(expected), "{sweep:?}: {e}");
        }
    }
}
