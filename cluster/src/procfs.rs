//! Reading `/proc/<pid>/stat`, which the harness uses to tell whether its processes live, to
//! recognise them by start time, and to measure their CPU time and priority.

/// Field `n` of a `stat` line, numbered as in proc(5) (1 = pid, 3 = state, 14 = utime, …),
/// for `n >= 3`. Counting starts after the parenthesised command name, which may itself hold
/// spaces and parentheses.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(n.checked_sub(3)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_count_from_the_state_after_the_command_name() {
        let stat = "4242 (sandbox (x) ctl) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 -10";
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_field(stat, 14), Some("250"));
        assert_eq!(stat_field(stat, 19), Some("-10"));
        assert_eq!(stat_field(stat, 2), None);
        assert_eq!(stat_field(stat, 40), None);
        assert_eq!(stat_field("no name", 3), None);
    }
}
