//! The accounting limits that keep an accepted job pending: `acct_policy.c`'s checks before
//! node selection (GrpJobs, MaxJobsPA, MaxJobsPU, MaxWall, the association's and its
//! accounts') and after it (GrpTRESMins, GrpTRES, GrpTRESRunMins, MaxTRESMins, MaxTRESPerJob,
//! MaxTRESPerNode, MinTRES, MaxTRESPA, MaxTRESPU, the association's and its accounts'); and
//! how a limit reads. What keeps it off the nodes is in `nodes`.

use crate::slurm::duration::format_seconds;
use crate::slurm::sacctmgr::{AccountLimits, Association, Qos};
use crate::slurm::tres::Tres;

use super::super::limit_room::Counted;
use super::super::reason::{Holder, LimitCode, Reason, Scope};
use super::super::usage::{self, Held};
use super::minutes::Minutes;
use super::{Ctx, Effect, Finding, Seen, jobs, words};

impl Ctx<'_> {
    /// `_qos_job_runnable_pre_select`: GrpJobs, MaxJobsPU, MaxWall; then the association's.
    pub(super) fn accounting_before_selection(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut seen = Seen::default();
        for q in &self.qos_order {
            if let Some(max) = seen.first_count("GrpJobs", q.grp_jobs) {
                let all = self.held_by_all(q);
                if self.reports(all.running_jobs >= max) {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_GRP_JOBS),
                        Effect::Pends,
                        format!(
                            "all users together run {}{} under QOS {}, which allows {max} at once",
                            jobs(all.running_jobs),
                            not_shown(all.unseen.running_jobs),
                            q.name
                        ),
                    )
                    .held_in(
                        self.room(Counted::Jobs, max, |j| usage::counts_under(j, q, self.state))
                            .and_unseen(&all.unseen),
                    ));
                }
            }
            found.extend(self.wall_spent(&Minutes::of_qos(q), &mut seen));
            if let Some(max) = seen.first_count("MaxJobsPA", q.max_jobs_per_account)
                && let Some(account) = usage::account_of(self.req, self.state)
            {
                let held = self.held_by_account(q, account);
                if self.reports(held.running_jobs >= max) {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_MAX_JOBS_PER_ACCOUNT),
                        Effect::Pends,
                        format!(
                            "the users of account {account} run {}{} together under QOS {}, which allows {max} at once per account (MaxJobsPA); this one starts when {} ends",
                            jobs(held.running_jobs),
                            not_shown(held.unseen.running_jobs),
                            q.name,
                            one_of(held.running_jobs)
                        ),
                    )
                    .held_in(
                        self.room(Counted::Jobs, max, |j| {
                            usage::counts_for_account(j, q, account, self.state)
                        })
                        .and_unseen(&held.unseen),
                    ));
                }
            }
            if let Some(max) = seen.first_count("MaxJobsPU", q.max_jobs_per_user) {
                let user = self.held_by_user(q);
                if self.reports(user.running_jobs >= max) {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::QOS_MAX_JOBS_PER_USER),
                        Effect::Pends,
                        format!(
                            "you already run {} under QOS {}, which allows {max} at once per user; this one starts when {} ends",
                            jobs(user.running_jobs),
                            q.name,
                            one_of(user.running_jobs)
                        ),
                    )
                    .held_in(self.room(Counted::Jobs, max, |j| {
                        usage::counts_for_user(j, q, self.state)
                    })));
                }
            }
            if let Some(f) = self.over_max_wall(q, &mut seen, Effect::PendsForever)
                && self.deny_on_limit.is_none()
            {
                // Under DenyOnLimit it was refused at submit; the QOS's MaxWall still takes
                // the place of the association's (captured).
                found.push(f);
            }
        }
        if let Some(a) = self.association {
            let held = self.held_by_association(a);
            found.extend(self.wall_spent(&Minutes::of_association(a), &mut seen.clone()));
            if seen.count_unset("MaxJobsPU")
                && let Some(max) = a.max_jobs
                && self.reports(held.running_jobs >= max)
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_MAX_JOBS),
                    Effect::Pends,
                    format!(
                        "you already run {} under your association ({}), which allows {max} at once",
                        jobs(held.running_jobs),
                        a.describe()
                    ),
                )
                .held_in(self.room(Counted::Jobs, max, |j| {
                    usage::under_association(j, a, self.state)
                })));
            }
            if self.deny_on_limit.is_none()
                && let Some(f) = self.over_association_wall(a, &seen, Effect::PendsForever)
            {
                found.push(f);
            }
        }
        for a in self.account_chain() {
            let held = self.held_in_account(&a.account);
            if let Some(max) = a.grp_jobs
                && self.reports(held.running_jobs >= max)
            {
                found.push(Finding::new(
                    Reason::Limit(LimitCode::ASSOC_GRP_JOBS),
                    Effect::Pends,
                    format!(
                        "the users of account {} run {}{} together, and it allows {max} at once (GrpJobs); this one starts when {} ends",
                        a.account,
                        jobs(held.running_jobs),
                        not_shown(held.unseen.running_jobs),
                        one_of(held.running_jobs)
                    ),
                )
                .held_in(
                    self.room(
                        Counted::Jobs,
                        max,
                        usage::in_account(&a.account, self.state),
                    )
                    .and_unseen(&held.unseen),
                ));
            }
            found.extend(self.wall_spent(&Minutes::of_account(a), &mut seen.clone()));
        }
        found
    }

    /// `_qos_job_runnable_post_select`: per QOS, GrpTRES, MaxTRESPerJob, MaxTRESPerNode,
    /// MaxTRESPU, each over the TRES in Slurm's order; then the association's GrpTRES and
    /// MaxTRES where no QOS set the same limit.
    pub(super) fn accounting_after_selection(&self) -> Vec<Finding> {
        let mut found = Vec::new();
        let mut seen = Seen::default();
        // Under DenyOnLimit a job alone over a limit was refused at submit already.
        let alone = if self.deny_on_limit.is_some() {
            None
        } else {
            Some(Effect::PendsForever)
        };
        for q in &self.qos_order {
            let user = self.held_by_user(q);
            let all = self.held_by_all(q);
            let m = Minutes::of_qos(q);
            found.extend(self.minutes_spent(&m, &mut seen));
            found.extend(self.usage_limits(
                q,
                Holder::Qos,
                Scope::Group,
                &q.grp_tres,
                &all,
                &mut seen,
                alone,
            ));
            found.extend(self.run_minutes_limits(&m, &mut seen, alone));
            if let Some(effect) = alone {
                found.extend(self.minutes_alone(&m, Scope::MinutesPerJob, &mut seen, effect));
                found.extend(self.per_job_limits(q, Scope::PerJob, &mut seen, effect));
                found.extend(self.per_job_limits(q, Scope::PerNode, &mut seen, effect));
                found.extend(self.minimums(q, &mut seen, effect));
            }
            if let Some(account) = usage::account_of(self.req, self.state) {
                let held = self.held_by_account(q, account);
                found.extend(self.usage_limits(
                    q,
                    Holder::Qos,
                    Scope::PerAccount,
                    &q.max_tres_per_account,
                    &held,
                    &mut seen,
                    alone,
                ));
            }
            found.extend(self.usage_limits(
                q,
                Holder::Qos,
                Scope::PerUser,
                &q.max_tres_per_user,
                &user,
                &mut seen,
                alone,
            ));
        }
        // An association's limits count where no QOS set the same; each level apart. Under
        // DenyOnLimit a job alone over one was refused at submit already.
        if let Some(a) = self.association {
            let held = self.held_by_association(a);
            let m = Minutes::of_association(a);
            let mut seen = seen.clone();
            found.extend(self.minutes_spent(&m, &mut seen));
            if let Some(effect) = alone {
                found.extend(self.association_alone(a, Scope::Group, &seen, effect));
            }
            for (tres, asked) in self.asked.in_slurm_order() {
                if seen.tres_unset(Scope::Group, tres)
                    && let Some(max) = a.grp_tres.get(tres)
                {
                    let used = held.tres.get(tres).unwrap_or(0);
                    if asked <= max && self.reports(used + asked > max) {
                        found.push(Finding::new(
                            Reason::Limit(LimitCode::for_tres(Holder::Assoc, Scope::Group, tres)),
                            Effect::Pends,
                            format!(
                                "your association ({}) holds {used} of its {max} {}; this job asks for {asked}",
                                a.describe(),
                                words::tres_noun(tres, max)
                            ),
                        )
                        .held_in(self.room(Counted::Tres(tres.to_string()), max, |j| {
                            usage::under_association(j, a, self.state)
                        })));
                    }
                }
            }
            found.extend(self.run_minutes_limits(&m, &mut seen, alone));
            if let Some(effect) = alone {
                found.extend(self.minutes_alone(&m, Scope::MinutesPerJob, &mut seen, effect));
                found.extend(self.association_alone(a, Scope::PerJob, &seen, effect));
            }
        }
        for a in self.account_chain() {
            let held = self.held_in_account(&a.account);
            let m = Minutes::of_account(a);
            let mut seen = seen.clone();
            found.extend(self.minutes_spent(&m, &mut seen));
            if let Some(effect) = alone {
                found.extend(self.account_grp_alone(a, &seen, effect));
            }
            for (tres, asked) in self.asked.in_slurm_order() {
                let Some(max) = a
                    .grp_tres
                    .get(tres)
                    .filter(|_| seen.tres_unset(Scope::Group, tres))
                else {
                    continue;
                };
                let used = held.tres.get(tres).unwrap_or(0);
                if asked <= max && self.reports(used + asked > max) {
                    found.push(Finding::new(
                        Reason::Limit(LimitCode::for_tres(Holder::Assoc, Scope::Group, tres)),
                        Effect::Pends,
                        format!(
                            "the users of account {} hold {used}{} of its {max} {} together (GrpTRES); this job asks for {asked}",
                            a.account,
                            not_shown(held.unseen.tres.get(tres).unwrap_or(0)),
                            words::tres_noun(tres, max)
                        ),
                    )
                    .held_in(
                        self.room(
                            Counted::Tres(tres.to_string()),
                            max,
                            usage::in_account(&a.account, self.state),
                        )
                        .and_unseen(&held.unseen),
                    ));
                }
            }
            found.extend(self.run_minutes_limits(&m, &mut seen, alone));
        }
        found
    }

    /// The TRES this job alone asks more of than `limits` allow, where no QOS set the same
    /// `scope`: (TRES, asked, limit).
    fn over_alone<'t>(
        &'t self,
        limits: &Tres,
        scope: Scope,
        seen: &Seen,
    ) -> Vec<(&'t str, u64, u64)> {
        self.asked
            .in_slurm_order()
            .into_iter()
            .filter(|(tres, _)| seen.tres_unset(scope, tres))
            .filter_map(|(tres, asked)| {
                let max = limits.get(tres).filter(|max| asked > *max)?;
                Some((tres, asked, max))
            })
            .collect()
    }

    /// The association's GrpTRES (`scope` Group) or MaxTRES (PerJob), for this job alone.
    pub(super) fn association_alone(
        &self,
        a: &Association,
        scope: Scope,
        seen: &Seen,
        effect: Effect,
    ) -> Vec<Finding> {
        let limits = match scope {
            Scope::Group => &a.grp_tres,
            _ => &a.max_tres_per_job,
        };
        self.over_alone(limits, scope, seen)
            .into_iter()
            .map(|(tres, asked, max)| alone_over_assoc(a, scope, tres, asked, max, effect))
            .collect()
    }

    /// An account's own GrpTRES, for this job alone, where no QOS set it.
    pub(super) fn account_grp_alone(
        &self,
        a: &AccountLimits,
        seen: &Seen,
        effect: Effect,
    ) -> Vec<Finding> {
        self.over_alone(&a.grp_tres, Scope::Group, seen)
            .into_iter()
            .map(|(tres, asked, max)| {
                Finding::new(
                    Reason::Limit(LimitCode::for_tres(Holder::Assoc, Scope::Group, tres)),
                    effect,
                    format!(
                        "account {} allows {max} {} to all its users together (GrpTRES); this job alone asks for {asked}{}",
                        a.account,
                        words::tres_noun(tres, max),
                        never(effect)
                    ),
                )
            })
            .collect()
    }

    /// GrpTRES or MaxTRESPU of one QOS: the job alone over it (never starts) or together
    /// with what is held.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn usage_limits(
        &self,
        q: &Qos,
        holder: Holder,
        scope: Scope,
        limits: &Tres,
        held: &Held,
        seen: &mut Seen,
        alone: Option<Effect>,
    ) -> Vec<Finding> {
        let mut found = Vec::new();
        for (tres, asked) in self.asked.in_slurm_order() {
            let Some(max) = seen.first(scope, tres, limits.get(tres)) else {
                continue;
            };
            let used = held.tres.get(tres).unwrap_or(0);
            if asked > max {
                if let Some(effect) = alone {
                    found.push(alone_over(q, holder, scope, tres, asked, max, effect));
                }
            } else if self.reports(used + asked > max) {
                let who = match scope {
                    Scope::Group => format!(
                        "all users together hold {used}{} of the {max} {} of QOS {}",
                        not_shown(held.unseen.tres.get(tres).unwrap_or(0)),
                        words::tres_noun(tres, max),
                        q.name
                    ),
                    Scope::PerAccount => format!(
                        "the users of account {} hold {used}{} of the {max} {} QOS {} allows per account (MaxTRESPA)",
                        usage::account_of(self.req, self.state).unwrap_or("?"),
                        not_shown(held.unseen.tres.get(tres).unwrap_or(0)),
                        words::tres_noun(tres, max),
                        q.name
                    ),
                    _ => format!(
                        "you hold {used} of the {max} {} QOS {} allows per user",
                        words::tres_noun(tres, max),
                        q.name
                    ),
                };
                let state = self.state;
                let account = usage::account_of(self.req, state);
                let counted = Counted::Tres(tres.to_string());
                let room = match scope {
                    Scope::Group => self
                        .room(counted, max, |j| usage::counts_under(j, q, state))
                        .and_unseen(&held.unseen),
                    Scope::PerAccount => self
                        .room(counted, max, |j| {
                            account.is_some_and(|a| usage::counts_for_account(j, q, a, state))
                        })
                        .and_unseen(&held.unseen),
                    _ => self.room(counted, max, |j| usage::counts_for_user(j, q, state)),
                };
                found.push(
                    Finding::new(
                        Reason::Limit(LimitCode::for_tres(holder, scope, tres)),
                        Effect::Pends,
                        format!("{who}; this job asks for {asked}"),
                    )
                    .held_in(room),
                );
            }
        }
        found
    }

    /// MaxTRESPerJob or MaxTRESPerNode of one QOS (one node: the same numbers).
    pub(super) fn per_job_limits(
        &self,
        q: &Qos,
        scope: Scope,
        seen: &mut Seen,
        effect: Effect,
    ) -> Vec<Finding> {
        let limits = match scope {
            Scope::PerNode => &q.max_tres_per_node,
            _ => &q.max_tres_per_job,
        };
        self.asked
            .in_slurm_order()
            .into_iter()
            .filter_map(|(tres, asked)| {
                let max = seen.first(scope, tres, limits.get(tres))?;
                (asked > max).then(|| alone_over(q, Holder::Qos, scope, tres, asked, max, effect))
            })
            .collect()
    }

    /// MinTRES of one QOS: what each job must ask for at least.
    pub(super) fn minimums(&self, q: &Qos, seen: &mut Seen, effect: Effect) -> Vec<Finding> {
        q.min_tres_per_job
            .in_slurm_order()
            .into_iter()
            .filter_map(|(tres, min)| {
                let min = seen.first(Scope::MinPerJob, tres, Some(min))?;
                let asked = self.asked.get(tres).unwrap_or(0);
                (asked < min).then(|| {
                    Finding::new(
                        Reason::Limit(LimitCode::for_tres(Holder::Qos, Scope::MinPerJob, tres)),
                        effect,
                        format!(
                            "QOS {} requires at least {min} {} per job (MinTRES); this job asks for {asked}{}; ask for at least {min}, or use a partition or QOS without that minimum",
                            q.name,
                            words::tres_noun(tres, min),
                            never(effect)
                        ),
                    )
                })
            })
            .collect()
    }

    /// The association's MaxWall, where no QOS set one.
    pub(super) fn over_association_wall(
        &self,
        a: &Association,
        seen: &Seen,
        effect: Effect,
    ) -> Option<Finding> {
        let wall = a
            .max_wall
            .seconds()
            .filter(|_| seen.count_unset("MaxWall"))?;
        self.over_wall(
            LimitCode::ASSOC_MAX_WALL,
            "your association's",
            wall,
            effect,
        )
    }

    /// A QOS's MaxWall, where no QOS before it set one.
    pub(super) fn over_max_wall(
        &self,
        q: &Qos,
        seen: &mut Seen,
        effect: Effect,
    ) -> Option<Finding> {
        let wall = seen.first_count("MaxWall", q.max_wall.seconds())?;
        self.over_wall(
            LimitCode::QOS_MAX_WALL,
            &format!("QOS {}'s", q.name),
            wall,
            effect,
        )
    }

    /// A time limit longer than `whose` MaxWall of `wall` seconds.
    fn over_wall(
        &self,
        code: LimitCode,
        whose: &str,
        wall: u64,
        effect: Effect,
    ) -> Option<Finding> {
        (self.req.time_seconds > wall).then(|| {
            Finding::new(
                Reason::Limit(code),
                effect,
                format!(
                    "the time limit {} is longer than {whose} MaxWall {}{}",
                    format_seconds(self.req.time_seconds),
                    format_seconds(wall),
                    never(effect)
                ),
            )
        })
    }
}

/// What a finding that holds the job forever adds to its sentence.
pub(super) fn never(effect: Effect) -> &'static str {
    if effect == Effect::PendsForever {
        ", so it will never start"
    } else {
        ""
    }
}

/// A job that alone asks for more than a QOS limit allows.
pub(super) fn alone_over(
    q: &Qos,
    holder: Holder,
    scope: Scope,
    tres: &str,
    asked: u64,
    max: u64,
    effect: Effect,
) -> Finding {
    let per = match scope {
        Scope::Group | Scope::GroupMinutes | Scope::GroupRunMinutes => "for all users together",
        Scope::PerJob | Scope::MinutesPerJob | Scope::MinPerJob => "per job",
        Scope::PerNode => "per node",
        Scope::PerAccount => "per account (MaxTRESPA)",
        Scope::PerUser => "per user",
    };
    Finding::new(
        Reason::Limit(LimitCode::for_tres(holder, scope, tres)),
        effect,
        format!(
            "QOS {} allows {max} {} {per}; this job alone asks for {asked}{}",
            q.name,
            words::tres_noun(tres, max),
            never(effect)
        ),
    )
}

fn alone_over_assoc(
    a: &Association,
    scope: Scope,
    tres: &str,
    asked: u64,
    max: u64,
    effect: Effect,
) -> Finding {
    let per = if scope == Scope::Group {
        "in all"
    } else {
        "per job"
    };
    Finding::new(
        Reason::Limit(LimitCode::for_tres(Holder::Assoc, scope, tres)),
        effect,
        format!(
            "your association ({}) allows {max} {} {per}; this job alone asks for {asked}{}",
            a.describe(),
            words::tres_noun(tres, max),
            never(effect)
        ),
    )
}

/// What a job that waits for one of `running` jobs to end waits for: `it`, or `one of them`.
fn one_of(running: u64) -> &'static str {
    if running == 1 { "it" } else { "one of them" }
}

/// ` (2 not shown to you)`: of a count, what the controller counts for jobs squeue
/// hides from the user (PrivateData=jobs), who would otherwise look for them in vain.
pub(super) fn not_shown(unseen: u64) -> String {
    match unseen {
        0 => String::new(),
        n => format!(" ({n} not shown to you)"),
    }
}
