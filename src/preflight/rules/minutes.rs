//! TRES-minutes limits: a job's TRES times its time limit against MaxTRESMins (per job),
//! GrpTRESMins (a budget of use so far, which decays) and GrpTRESRunMins (the running jobs'
//! TRES times their time left). Each is checked where `waits.rs` and `refusals.rs` put it in
//! Slurm's order.

use crate::slurm::duration::{SlurmTime, format_seconds};
use crate::slurm::sacctmgr::{AccountLimits, Association, MinutesLimits, Qos};

use super::super::limit_room::{Counted, LimitRoom};
use super::super::reason::{Holder, LimitCode, Reason, Scope};
use super::super::usage::{self, MinutesOf};
use super::waits::never;
use super::{Ctx, Effect, Finding, Seen, words};

/// Whose TRES-minutes limits, named as a sentence names them.
pub(super) struct Minutes<'a> {
    of: MinutesOf<'a>,
    holder: Holder,
    /// `QOS gpu`, `your association (account yenlab)`, `account yenlab`.
    name: String,
    limits: &'a MinutesLimits,
    /// GrpWall: a budget of wall time, which decays like GrpTRESMins.
    grp_wall: &'a SlurmTime,
}

impl<'a> Minutes<'a> {
    pub(super) fn of_qos(q: &'a Qos) -> Minutes<'a> {
        Minutes {
            of: MinutesOf::Qos(q),
            holder: Holder::Qos,
            name: format!("QOS {}", q.name),
            limits: &q.minutes,
            grp_wall: &q.grp_wall,
        }
    }

    pub(super) fn of_association(a: &'a Association) -> Minutes<'a> {
        Minutes {
            of: MinutesOf::Association(a),
            holder: Holder::Assoc,
            name: format!("your association ({})", a.describe()),
            limits: &a.minutes,
            grp_wall: &a.grp_wall,
        }
    }

    pub(super) fn of_account(a: &'a AccountLimits) -> Minutes<'a> {
        Minutes {
            of: MinutesOf::Account(&a.account),
            holder: Holder::Assoc,
            name: format!("account {}", a.account),
            limits: &a.minutes,
            grp_wall: &a.grp_wall,
        }
    }
}

impl Ctx<'_> {
    /// A limit on this job's TRES times its time limit, alone: MaxTRESMins (`scope`
    /// MinutesPerJob), or GrpTRESMins (GroupMinutes), which only DenyOnLimit holds a job
    /// alone to, at submit.
    pub(super) fn minutes_alone(
        &self,
        m: &Minutes,
        scope: Scope,
        seen: &mut Seen,
        effect: Effect,
    ) -> Vec<Finding> {
        let minutes = self.time_limit_minutes();
        let (limits, per) = match scope {
            Scope::GroupMinutes => (&m.limits.grp_tres_mins, "in all (GrpTRESMins)"),
            _ => (&m.limits.max_tres_mins_per_job, "per job (MaxTRESMins)"),
        };
        self.asked
            .in_slurm_order()
            .into_iter()
            .filter_map(|(tres, asked)| {
                let max = seen.first(scope, tres, limits.get(tres))?;
                let wanted = asked * minutes;
                (wanted > max).then(|| {
                    let shorter = match max / asked.max(1) {
                        0 => String::new(),
                        fits => format!(
                            "; with {asked} {} a time limit of at most {} fits",
                            words::tres_noun(tres, asked),
                            format_seconds(fits * 60)
                        ),
                    };
                    Finding::new(
                        Reason::Limit(LimitCode::for_tres(m.holder, scope, tres)),
                        effect,
                        format!(
                            "{} allows {max} {}-minutes {per}: {} times the time limit; this job asks for {asked} × {minutes} min = {wanted}{}{shorter}",
                            m.name,
                            words::tres_unit(tres),
                            words::tres_nouns(tres),
                            never(effect)
                        ),
                    )
                })
            })
            .collect()
    }

    /// GrpTRESMins: a budget of TRES-minutes used, which decays with time. Once what was used
    /// reaches it, a job asking for that TRES waits; the job's own minutes do not count
    /// (captured: a job alone over it starts while nothing is used).
    pub(super) fn minutes_spent(&self, m: &Minutes, seen: &mut Seen) -> Vec<Finding> {
        let Some(used) = usage::minutes_used(m.of, self.state) else {
            return Vec::new();
        };
        self.asked
            .in_slurm_order()
            .into_iter()
            .filter(|(_, asked)| *asked > 0)
            .filter_map(|(tres, _)| {
                let max = seen.first(Scope::GroupMinutes, tres, m.limits.grp_tres_mins.get(tres))?;
                let spent = used.get(tres).unwrap_or(0);
                (spent >= max).then(|| {
                    Finding::new(
                        Reason::Limit(LimitCode::for_tres(m.holder, Scope::GroupMinutes, tres)),
                        Effect::Pends,
                        format!(
                            "{} has used {spent} of the {max} {}-minutes it may use (GrpTRESMins, a budget that decays with time); jobs asking for {} wait until an administrator raises it or past use decays",
                            m.name,
                            words::tres_unit(tres),
                            words::tres_nouns(tres)
                        ),
                    )
                })
            })
            .collect()
    }

    /// GrpTRESRunMins: the running jobs' TRES times their time limits (or, where the priority
    /// decays, their time left), all together, plus this job's TRES times its time limit.
    /// Where nothing decays it opens as jobs under it end, which the finding's room tells.
    pub(super) fn run_minutes_limits(
        &self,
        m: &Minutes,
        seen: &mut Seen,
        alone: Option<Effect>,
    ) -> Vec<Finding> {
        let minutes = self.time_limit_minutes();
        let running = usage::run_minutes_held(m.of, self.state);
        let decays = self.state.config.multifactor_priority;
        let mut found = Vec::new();
        for (tres, asked) in self.asked.in_slurm_order() {
            let Some(max) = seen.first(
                Scope::GroupRunMinutes,
                tres,
                m.limits.grp_tres_run_mins.get(tres),
            ) else {
                continue;
            };
            let wanted = asked * minutes;
            let used = running.get(tres).unwrap_or(0);
            let code = Reason::Limit(LimitCode::for_tres(m.holder, Scope::GroupRunMinutes, tres));
            let counted = match decays {
                true => "the time left",
                false => "the time limit, until the job ends",
            };
            let what = format!(
                "{} allows {max} {}-minutes to its running jobs together (GrpTRESRunMins: {} times {counted})",
                m.name,
                words::tres_unit(tres),
                words::tres_nouns(tres)
            );
            if wanted > max {
                if let Some(effect) = alone {
                    found.push(Finding::new(
                        code,
                        effect,
                        format!(
                            "{what}; this job alone asks for {asked} × {minutes} min = {wanted}{}",
                            never(effect)
                        ),
                    ));
                }
            } else if self.reports(used + wanted > max) {
                // (An administrator may lower the limit below what running jobs hold.)
                let fits = max.saturating_sub(used) / asked.max(1);
                let shorter = if fits > 0 {
                    format!(
                        "; a time limit of at most {} would start it now",
                        format_seconds(fits * 60)
                    )
                } else {
                    String::new()
                };
                let waits = match decays {
                    true => "them to run down",
                    false => "enough of them to end",
                };
                let finding = Finding::new(
                    code,
                    Effect::Pends,
                    format!(
                        "{what}; the running jobs hold {used} and this job asks for {asked} × {minutes} min = {wanted}, so it waits for {waits}{shorter}"
                    ),
                );
                found.push(match decays {
                    true => finding,
                    false => finding.held_in(self.run_minutes_room(m, tres, max, used)),
                });
            }
        }
        found
    }

    /// The room under GrpTRESRunMins of `max` of `tres` where nothing decays: each job under
    /// it holds its TRES times its time limit until it ends; what the controller counts
    /// (`used`) beyond their shares is held for good.
    fn run_minutes_room(&self, m: &Minutes, tres: &str, max: u64, used: u64) -> LimitRoom {
        let counts = usage::counts_under_minutes(m.of, self.state);
        let mut room = self.room(Counted::RunMinutes(tres.to_string()), max, counts);
        let shares = usage::run_minutes_shares(m.of, self.state).get(tres);
        room.hold_unaccounted(used.saturating_sub(shares.unwrap_or(0)));
        room
    }

    /// GrpWall spent: once the wall time used reaches it, every job waits.
    pub(super) fn wall_spent(&self, m: &Minutes, seen: &mut Seen) -> Option<Finding> {
        let max = seen.first_count("GrpWall", m.grp_wall.seconds().map(|s| s / 60))?;
        let used = usage::wall_minutes_used(m.of, self.state)?;
        (used >= max).then(|| {
            Finding::new(
                Reason::Limit(grp_wall_code(m.holder)),
                Effect::Pends,
                format!(
                    "{}'s jobs have run {used} of the {max} minutes of wall time it allows (GrpWall, a budget that decays with time); jobs wait until an administrator raises it or past use decays",
                    m.name
                ),
            )
        })
    }

    /// GrpWall against this job's time limit alone: what DenyOnLimit refuses at submit.
    pub(super) fn wall_alone(&self, m: &Minutes, seen: &mut Seen) -> Option<Finding> {
        let max = seen.first_count("GrpWall", m.grp_wall.seconds().map(|s| s / 60))?;
        let minutes = self.time_limit_minutes();
        (minutes > max).then(|| {
            Finding::new(
                Reason::Limit(grp_wall_code(m.holder)),
                Effect::Refused,
                format!(
                    "{} allows {} of wall time in all (GrpWall); this job's time limit is {}",
                    m.name,
                    format_seconds(max * 60),
                    format_seconds(minutes * 60)
                ),
            )
        })
    }

    /// The time limit in whole minutes, as Slurm keeps it.
    pub(super) fn time_limit_minutes(&self) -> u64 {
        self.req.time_seconds.div_ceil(60)
    }
}

fn grp_wall_code(holder: Holder) -> LimitCode {
    match holder {
        Holder::Qos => LimitCode::QOS_GRP_WALL,
        Holder::Assoc => LimitCode::ASSOC_GRP_WALL,
    }
}
