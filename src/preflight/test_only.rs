//! Where PrivateData=reservations hides the reservations a user may not use, `sbatch
//! --test-only` still sees them: Slurm's will-run test weighs the running jobs and every
//! reservation (no job queued, no limit). Where the jobs are shown, a start it gives later
//! than the verdict's can only be a hidden reservation in the way (captured as `nobody`:
//! `plain-private-reservations-maint-ahead`, where it said two hours, the end of the
//! maintenance window, and Slurm said `ReqNodeNotAvail, Reserved for maintenance`).
//! Where the jobs are hidden too, it also waits for jobs the backfill scheduler would start
//! the job around (captured: "+10 min" of a job Slurm started), so it is not asked.

use super::expected_start::ExpectedStart;
use super::reason::Reason;
use super::{Outcome, Verdict, reserved};
use crate::slurm::clock;
use crate::slurm::sbatch::TestOnly;

/// How far apart two starts may be and still be the same one: the backfill scheduler's
/// resolution.
const SAME_START: i64 = 60;

/// Weighs what `sbatch --test-only` said of the job (`said`, at `now`) against `verdict`,
/// made without the reservations hidden from the user: where it starts later, the job waits
/// for a reservation it cannot see (ReqNodeNotAvail), from then; where it starts when the
/// verdict says, none is in its way, and the warning that one may be goes.
pub fn weigh(verdict: &mut Verdict, said: &TestOnly, now: i64) {
    let expected = match (&verdict.outcome, &verdict.expected_start) {
        (Outcome::StartsNow, _) if verdict.array.is_none() => Some(now),
        (Outcome::Pends, Some(ExpectedStart::By { at, .. })) => Some(*at),
        _ => None,
    };
    let at = clock::when_and_how_soon(said.start, now);
    let Some(expected) = expected else {
        verdict.facts.push(format!(
            "`sbatch --test-only` (it sees the reservations hidden from you, and weighs no job queued and no limit) has it start by {at} on {}",
            said.nodes
        ));
        return;
    };
    if said.start < expected - SAME_START {
        // It weighed a window other than the verdict's (the jobs queued ahead, a limit): a
        // hidden reservation may still be in the way then.
        return;
    }
    verdict.not_checked.retain(|line| line != reserved::HIDDEN);
    if said.start <= expected + SAME_START {
        verdict.facts.push(
            "`sbatch --test-only`, which sees the reservations hidden from you (the cluster's PrivateData), has it start then too: none is in its way".to_string(),
        );
        return;
    }
    let later_than = match verdict.outcome {
        Outcome::StartsNow => "not now".to_string(),
        _ => format!("not at {}", clock::when(expected, now)),
    };
    let hidden = format!(
        "a reservation not shown to you (the cluster's PrivateData=reservations) keeps the node before this job would end: `sbatch --test-only`, which sees it, has it start by {at} on {}, {later_than}",
        said.nodes
    );
    if verdict.outcome == Outcome::StartsNow {
        verdict.outcome = Outcome::Pends;
        verdict.reason = Some(Reason::ReqNodeNotAvail);
        verdict.message = hidden;
    } else {
        verdict.facts.push(hidden);
    }
    verdict.expected_start = Some(ExpectedStart::By {
        at: said.start,
        in_seconds: u64::try_from(said.start - now).unwrap_or(0),
        node: said.nodes.clone(),
        jobs_ending: Vec::new(),
        jobs_ahead_ending: Vec::new(),
        reservations_ending: Vec::new(),
        limit_jobs_ending: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn starts_now() -> Verdict {
        Verdict {
            outcome: Outcome::StartsNow,
            reason: None,
            message: "partition gpu has room for 1 GPU and 1 CPU now".into(),
            never_starts: false,
            also: Vec::new(),
            expected_start: None,
            facts: Vec::new(),
            array: None,
            not_checked: vec![reserved::HIDDEN.to_string()],
        }
    }

    fn said(in_seconds: i64) -> TestOnly {
        TestOnly {
            start: NOW + in_seconds,
            nodes: "localhost".into(),
        }
    }

    /// As captured (`plain-private-reservations-maint-ahead`): test-only said two hours,
    /// after the maintenance window an hour ahead, and Slurm pended the job.
    #[test]
    fn a_later_start_is_a_hidden_reservation_in_the_way() {
        let mut v = starts_now();
        weigh(&mut v, &said(7200 - 2), NOW);
        assert_eq!(v.outcome, Outcome::Pends);
        assert_eq!(v.reason, Some(Reason::ReqNodeNotAvail));
        assert!(
            v.message.contains("a reservation not shown to you"),
            "{}",
            v.message
        );
        assert!(
            v.message.ends_with("on localhost, not now"),
            "{}",
            v.message
        );
        assert!(v.not_checked.is_empty());
        match v.expected_start {
            Some(ExpectedStart::By { at, .. }) => assert_eq!(at, NOW + 7198),
            other => panic!("{other:?}"),
        }
    }

    /// When test-only agrees, nothing hidden is in the way: the warning goes.
    #[test]
    fn the_same_start_drops_the_warning() {
        let mut v = starts_now();
        weigh(&mut v, &said(2), NOW);
        assert_eq!(v.outcome, Outcome::StartsNow);
        assert!(v.not_checked.is_empty());
        assert!(v.facts[0].contains("none is in its way"), "{:?}", v.facts);
    }

    /// Test-only weighs no job queued ahead: a start sooner than the verdict's is another
    /// window, and the warning stays.
    #[test]
    fn a_sooner_start_leaves_the_warning() {
        let mut v = starts_now();
        v.outcome = Outcome::Pends;
        v.reason = Some(Reason::Priority);
        v.expected_start = Some(ExpectedStart::By {
            at: NOW + 1800,
            in_seconds: 1800,
            node: "localhost".into(),
            jobs_ending: vec!["7".into()],
            jobs_ahead_ending: Vec::new(),
            reservations_ending: Vec::new(),
            limit_jobs_ending: Vec::new(),
        });
        weigh(&mut v, &said(0), NOW);
        assert_eq!(v.not_checked, vec![reserved::HIDDEN.to_string()]);
        assert_eq!(v.reason, Some(Reason::Priority));
    }
}
