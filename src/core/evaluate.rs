//! One evaluation: what was collected, assessed and planned, as of one instant, with each
//! namespace's lifecycle annotations as read; and when a namespace is to be reclaimed. Pure.

use crate::core::assess::{assess, resolve_prices, Assessment, Prices};
use crate::core::collected::{Collected, Sources};
use crate::core::config::Config;
use crate::core::model::{Observation, Span};
use crate::core::plan::{plan, ActionKind, Lifecycle, NamespacePlan, Plan, Reason, State};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Evaluation {
    pub at: DateTime<Utc>,
    /// In the same order as `plan.namespaces`.
    pub assessments: Vec<Assessment>,
    /// What was observed, in the same order; the act stage re-assesses from it.
    pub observations: Vec<Observation>,
    /// The lifecycle annotations of each namespace as read, in the same order.
    pub lifecycles: Vec<Lifecycle>,
    pub plan: Plan,
    pub sources: Sources,
    /// The prices every cost is computed with.
    pub prices: Prices,
    pub pods_seen: usize,
}

/// Assesses and plans every collected namespace, sorted by name.
///
/// Costs use OpenCost's prices when `pricing.source` asks for them and they were read.
pub fn evaluate(collected: Collected, config: &Config, at: DateTime<Utc>) -> Evaluation {
    let prices = resolve_prices(&config.pricing, collected.opencost.as_ref());
    let priced = Config {
        pricing: prices.apply(&config.pricing),
        ..config.clone()
    };
    let config = &priced;
    let mut observations = collected.observations;
    observations.sort_by(|a, b| a.namespace.name.cmp(&b.namespace.name));
    let items: Vec<(Assessment, Lifecycle)> = observations
        .iter()
        .map(|o| {
            (
                assess(o, config, at),
                Lifecycle::of(&o.namespace, &config.keys.state_prefix),
            )
        })
        .collect();
    let plan = plan(&items, config, at);
    let (assessments, lifecycles) = items.into_iter().unzip();
    Evaluation {
        at,
        assessments,
        observations,
        lifecycles,
        plan,
        sources: collected.sources,
        prices,
        pods_seen: collected.pods_seen,
    }
}

/// Which "reclaim after" is meant. The two differ on a mark this evaluation plans or
/// removes, and on a namespace being deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// The mark on the namespace now, while the planner keeps it (`marked`) or acts on it
    /// (`due`); a mark this evaluation plans is not there yet (`/metrics`).
    Standing,
    /// As this evaluation leaves it: a mark it plans counts with its new time, one it
    /// removes (unmark, wake) does not; a mark on a sleeping, protected or opted-out
    /// namespace does not either, one on a terminating namespace does (the weekly reports).
    Planned,
}

/// When the namespace is to be reclaimed and why, as `pending` reads it: at or before
/// the evaluation's instant when already due; nothing when no mark stands.
pub fn reclaim_after(
    p: &NamespacePlan,
    lifecycle: &Lifecycle,
    grace_period: Span,
    pending: Pending,
) -> Option<(DateTime<Utc>, Reason)> {
    let standing = lifecycle
        .mark
        .as_ref()
        .map(|mark| (mark.due_at(grace_period), mark.reason));
    match pending {
        Pending::Standing => standing.filter(|_| matches!(p.state, State::Marked | State::Due)),
        Pending::Planned => {
            for action in &p.actions {
                match &action.kind {
                    ActionKind::Mark {
                        cause,
                        reclaim_after,
                    } => return Some((*reclaim_after, *cause)),
                    ActionKind::Unmark | ActionKind::Wake => return None,
                    _ => {}
                }
            }
            let kept = lifecycle.sleeping_since.is_none()
                && p.state != State::Protected
                && p.state != State::OptedOut;
            standing.filter(|_| kept)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::utc;
    use crate::core::plan::{Action, Mark};

    fn plan_of(state: State, kinds: Vec<ActionKind>) -> NamespacePlan {
        NamespacePlan {
            name: "team-a".into(),
            state,
            actions: kinds
                .into_iter()
                .map(|kind| Action {
                    kind,
                    reason: String::new(),
                    execute: true,
                    recipients: vec![],
                })
                .collect(),
            notes: vec![],
        }
    }

    fn marked() -> Lifecycle {
        Lifecycle {
            mark: Some(Mark {
                reason: Reason::Idle,
                marked_at: utc("2026-11-01T00:00:00Z"),
                notified_at: utc("2026-11-02T00:00:00Z"),
                reclaim_after: utc("2026-11-03T00:00:00Z"),
            }),
            ..Lifecycle::default()
        }
    }

    #[test]
    fn both_readings_of_reclaim_after() {
        let grace = Span::days(7);
        let due = Some((utc("2026-11-09T00:00:00Z"), Reason::Idle));
        let fresh = utc("2026-11-30T00:00:00Z");
        let mark = ActionKind::Mark {
            cause: Reason::Expired,
            reclaim_after: fresh,
        };
        let cases = [
            // (state, actions, lifecycle, standing, planned)
            (State::Marked, vec![], marked(), due, due),
            (State::Due, vec![], marked(), due, due),
            (
                State::Idle,
                vec![mark.clone()],
                Lifecycle::default(),
                None,
                Some((fresh, Reason::Expired)),
            ),
            (
                State::Marked,
                vec![mark],
                marked(),
                due,
                Some((fresh, Reason::Expired)),
            ),
            (State::Marked, vec![ActionKind::Unmark], marked(), due, None),
            (State::Terminating, vec![], marked(), None, due),
            (State::Protected, vec![], marked(), None, None),
            (State::Active, vec![], Lifecycle::default(), None, None),
        ];
        for (state, kinds, lifecycle, standing, planned) in cases {
            let p = plan_of(state, kinds);
            let read = |pending| reclaim_after(&p, &lifecycle, grace, pending);
            assert_eq!(read(Pending::Standing), standing, "{state:?} standing");
            assert_eq!(read(Pending::Planned), planned, "{state:?} planned");
        }
    }
}
