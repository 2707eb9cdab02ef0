//! The `sessioncast` binary: parse the command line, run it, exit with its code.

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`; the bindings do not name
/// it): how many milliseconds freed memory is kept before it goes back to the system.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back after 2 ms, not mimalloc 3's default second: loading a million
/// recipients frees as fast as it allocates, and keeping a second's worth raised `check`'s peak
/// at 1,000,000 recipients from about 226 MiB to 245–259 MiB, for no measurable gain in time.
const PURGE_AFTER_MS: std::ffi::c_long = 2;

fn main() {
    // SAFETY: sets one of mimalloc's options (an integer it reads when it next purges); any
    // value is valid, and nothing else touches it.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_AFTER_MS) };
    let cli = sessioncast::cli::Cli::parse();
    sessioncast::log::init(cli.verbose);
    std::process::exit(sessioncast::run(cli).code());
}

#[cfg(test)]
mod tests {
    /// The option's number is the one mimalloc gives `purge_delay`: its documented default is
    /// 1000 ms, the only option with that default.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reads an option.
        let default = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
        assert_eq!(default, 1000);
    }
}
