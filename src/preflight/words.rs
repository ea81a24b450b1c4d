//! Counted nouns in the pre-flight's sentences: `1 GPU`, `2 GPUs`, `1 a30 GPU`; and how a
//! TRES of a limit reads (`GPUs`, `MiB of memory`).

/// `noun` as `n` of it reads: `GPU` for one, `GPUs` for any other number.
pub fn plural(n: u64, noun: &str) -> String {
    match n {
        1 => noun.to_string(),
        _ => format!("{noun}s"),
    }
}

/// `1 GPU`, `2 GPUs`, `0 jobs`.
pub fn count(n: u64, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

/// One GPU of the job's type, if it names one: `GPU`, `a30 GPU`.
pub fn gpu(gpu_type: Option<&str>) -> String {
    match gpu_type {
        Some(t) => format!("{t} GPU"),
        None => "GPU".to_string(),
    }
}

/// One unit of a TRES: `CPU`, `MiB`, `node`, `GPU`, `a30 GPU` (as in "GPU-minutes").
pub fn tres_unit(tres: &str) -> String {
    match tres {
        "cpu" => "CPU".into(),
        "mem" => "MiB".into(),
        "node" => "node".into(),
        "gres/gpu" => "GPU".into(),
        other => match other.strip_prefix("gres/gpu:") {
            Some(ty) => gpu(Some(ty)),
            None => other.to_string(),
        },
    }
}

/// `n` of a TRES, the number left out: `GPUs` (`of the 4 GPUs`), `GPU` for one, `MiB of
/// memory` whatever the number; a TRES yenjob has no word for keeps Slurm's name.
pub fn tres_noun(tres: &str, n: u64) -> String {
    match tres {
        "mem" => "MiB of memory".into(),
        "cpu" | "node" | "gres/gpu" => plural(n, &tres_unit(tres)),
        other if other.starts_with("gres/gpu:") => plural(n, &tres_unit(tres)),
        other => other.to_string(),
    }
}

/// A TRES in general: `GPUs`, `MiB of memory`.
pub fn tres_nouns(tres: &str) -> String {
    tres_noun(tres, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_any_other_number_plural() {
        assert_eq!(count(1, "GPU"), "1 GPU");
        assert_eq!(count(0, "GPU"), "0 GPUs");
        assert_eq!(count(2, &gpu(Some("a30"))), "2 a30 GPUs");
        assert_eq!(count(1, "job"), "1 job");
    }

    #[test]
    fn a_tres_reads_as_its_count() {
        assert_eq!(tres_noun("gres/gpu", 1), "GPU");
        assert_eq!(tres_noun("gres/gpu:a100", 4), "a100 GPUs");
        assert_eq!(tres_noun("cpu", 1), "CPU");
        assert_eq!(tres_noun("mem", 1), "MiB of memory");
        assert_eq!(tres_noun("license/matlab", 1), "license/matlab");
        assert_eq!(tres_unit("mem"), "MiB");
        assert_eq!(tres_nouns("node"), "nodes");
    }
}
