//! The rules of `recovery`: restart delays, restart strategies, local recovery.

use super::{err, Check};
use crate::scenario::{default_restart_delay, RecoverySpec, RestartStrategySpec};

/// Checks `recovery`.
pub(super) fn check_recovery(r: &RecoverySpec) -> Check {
    if r.restart_delay.ns() == 0 {
        return err("recovery.restart_delay", "must be longer than zero");
    }
    if r.restore_bandwidth.is_some_and(|b| b.0 == 0) {
        return err("recovery.restore_bandwidth", "must be larger than zero");
    }
    if let Some(strategy) = &r.restart_strategy {
        if r.restart_delay != default_restart_delay() {
            return err(
                "recovery.restart_delay",
                "cannot be given with recovery.restart_strategy, whose delay replaces it: give the delay in the strategy",
            );
        }
        check_strategy(strategy)?;
    }
    if let Some(b) = r.local_bandwidth {
        if !r.local_recovery {
            return err(
                "recovery.local_bandwidth",
                "applies only with recovery.local_recovery: true",
            );
        }
        if b.0 == 0 {
            return err("recovery.local_bandwidth", "must be larger than zero");
        }
    }
    Ok(())
}

fn check_strategy(s: &RestartStrategySpec) -> Check {
    let at = |kind: &str, field: &str| format!("recovery.restart_strategy.{kind}.{field}");
    match s {
        RestartStrategySpec::FixedDelay { delay, .. } => {
            if delay.ns() == 0 {
                return err(at("fixed_delay", "delay"), "must be longer than zero");
            }
        }
        RestartStrategySpec::FailureRate {
            max_failures_per_interval,
            failure_rate_interval,
            delay,
        } => {
            if *max_failures_per_interval == 0 {
                return err(
                    at("failure_rate", "max_failures_per_interval"),
                    "must be at least 1",
                );
            }
            if failure_rate_interval.ns() == 0 {
                return err(
                    at("failure_rate", "failure_rate_interval"),
                    "must be longer than zero",
                );
            }
            if delay.ns() == 0 {
                return err(at("failure_rate", "delay"), "must be longer than zero");
            }
        }
        RestartStrategySpec::ExponentialDelay {
            initial_backoff,
            max_backoff,
            backoff_multiplier,
            jitter_factor,
            attempts_before_reset_backoff,
            ..
        } => {
            let kind = "exponential_delay";
            if initial_backoff.ns() == 0 {
                return err(at(kind, "initial_backoff"), "must be longer than zero");
            }
            if max_backoff < initial_backoff {
                return err(
                    at(kind, "max_backoff"),
                    format!("{max_backoff} is shorter than initial_backoff ({initial_backoff})"),
                );
            }
            if !(backoff_multiplier.is_finite() && *backoff_multiplier >= 1.0) {
                return err(
                    at(kind, "backoff_multiplier"),
                    format!("{backoff_multiplier} must be a number of at least 1"),
                );
            }
            if !(jitter_factor.is_finite() && (0.0..=1.0).contains(jitter_factor)) {
                return err(
                    at(kind, "jitter_factor"),
                    format!("{jitter_factor} must be between 0 and 1"),
                );
            }
            if *attempts_before_reset_backoff == Some(0) {
                return err(
                    at(kind, "attempts_before_reset_backoff"),
                    "must be at least 1",
                );
            }
        }
    }
    Ok(())
}
