//! Whole-set classification metrics: accuracy, per-class precision/recall/F1, macro-F1 and the
//! confusion matrix (rows: true label, columns: predicted).

use super::data::LABELS;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Metrics {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub loss: f64,
    pub count: usize,
    pub per_class: Vec<ClassMetrics>,
    pub confusion: Vec<Vec<usize>>,
}

pub fn compute(truth: &[usize], predicted: &[usize], loss: f64) -> Metrics {
    let k = LABELS.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let n = truth.len();
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted_c: usize = (0..k).map(|t| confusion[t][c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = if predicted_c > 0 {
                tp / predicted_c as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                label: LABELS[c].to_string(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    Metrics {
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / k as f64,
        loss,
        count: n,
        per_class,
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let m = compute(&[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0], 0.5);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            m.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]
        );
        // class 0: p=1/2 r=1/2; class 1: p=2/3 r=1; class 2: p=1 r=1/2
        let f1s = [0.5, 0.8, 2.0 / 3.0];
        for (c, f) in m.per_class.iter().zip(f1s) {
            assert!((c.f1 - f).abs() < 1e-9, "{c:?}");
        }
        assert!((m.macro_f1 - f1s.iter().sum::<f64>() / 3.0).abs() < 1e-9);
    }
}
