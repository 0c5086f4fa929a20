//! Integration tests: one binary, one module per concern.

mod alignment_timeout;
mod backpressure;
mod bad_input;
mod bench;
mod bounds;
mod cli;
mod compare;
mod debloating;
mod determinism;
mod failures;
mod golden;
mod key_groups;
mod layering;
mod limits;
mod properties;
mod protocols;
mod restart_strategies;
mod scenarios;
mod state_backends;
mod support;
