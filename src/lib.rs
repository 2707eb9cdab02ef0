pub mod ratelimit;
pub mod sandbox;
