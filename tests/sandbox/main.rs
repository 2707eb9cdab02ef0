//! Sandbox end-to-end tests: real HTTP over loopback against `Sandbox::start`, with scaled-down windows.

mod behaviour;
mod common;
mod dialects;
mod faults;
mod modes;
mod webhooks;
