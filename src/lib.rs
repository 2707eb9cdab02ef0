pub mod ratelimit;
