//! How a case fails: the reasons a case did not pass and the helpers that produce them, apart
//! from what a case is, so that the context cases run in can fail without knowing of cases.

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// The controller under test did not behave as the spec says.
    Check(String),
    /// A call to the API server failed; waits retry these until they time out.
    Api(String),
    /// The case cannot be checked on this cluster (the reason says why). Never a pass.
    Skip(String),
}

impl Fail {
    pub fn check(message: impl Into<String>) -> Self {
        Fail::Check(message.into())
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Fail::Skip(reason.into())
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Check(m) => f.write_str(m),
            Fail::Api(m) => write!(f, "API call failed: {m}"),
            Fail::Skip(r) => write!(f, "skipped: {r}"),
        }
    }
}

/// Gives an API error the action it interrupted: `create Sandbox sb: <error>`.
pub trait ApiContext<T> {
    fn during(self, action: impl std::fmt::Display) -> Result<T, Fail>;
}

impl<T> ApiContext<T> for Result<T, kube::Error> {
    fn during(self, action: impl std::fmt::Display) -> Result<T, Fail> {
        self.map_err(|e| Fail::Api(format!("{action}: {e}")))
    }
}

/// Fails the case with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::fail::Fail::Check(format!($($msg)+)));
        }
    };
}

/// Fails the case unless both sides are equal, showing both and what they are.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($what:tt)+) => {
        // `match` keeps temporaries in `$left`/`$right` alive for the comparison.
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err($crate::fail::Fail::Check(format!(
                        "{}: got {:?}, want {:?}",
                        format!($($what)+),
                        left,
                        right
                    )));
                }
            }
        }
    };
}

pub(crate) use {ensure, ensure_eq};

#[cfg(test)]
mod tests {
    use super::*;

    fn positive(n: i32) -> Result<(), Fail> {
        ensure!(n > 0, "{n} is not positive");
        ensure_eq!(n % 2, 0, "parity of {n}");
        Ok(())
    }

    #[test]
    fn ensure_macros_fail_with_their_message() {
        assert_eq!(positive(2), Ok(()));
        assert_eq!(positive(-1), Err(Fail::check("-1 is not positive")));
        assert_eq!(positive(3), Err(Fail::check("parity of 3: got 1, want 0")));
    }
}
