//! What a conformance case is: a name, the spec section it checks, a time budget and an async
//! body that either passes, fails with a message, or declares itself skipped with a reason.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::context::CaseContext;

/// The body of a case, boxed so cases of different modules fit in one list.
pub type CaseFuture = Pin<Box<dyn Future<Output = Result<(), Fail>> + Send>>;

/// One named behaviour of the spec, checked through the Kubernetes API only.
#[derive(Clone, Copy)]
pub struct Case {
    /// Unique, stable, lowercase with '-': it names the case's namespace and JUnit test case.
    pub name: &'static str,
    /// The kind the case is about (`sandbox`, `template`, `warmpool`, `claim`): the JUnit
    /// class name.
    pub group: &'static str,
    /// Section(s) of the upstream API spec the case checks, e.g. `2.8`.
    pub section: &'static str,
    /// One line saying what is checked (for `--list`).
    pub checks: &'static str,
    /// The whole case, waits included, must finish within this.
    pub timeout: Duration,
    pub body: fn(CaseContext) -> CaseFuture,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("section", &self.section)
            .finish_non_exhaustive()
    }
}

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

/// How a case ended, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

impl From<Result<(), Fail>> for Outcome {
    fn from(result: Result<(), Fail>) -> Self {
        match result {
            Ok(()) => Outcome::Passed,
            Err(Fail::Skip(reason)) => Outcome::Skipped(reason),
            Err(fail) => Outcome::Failed(fail.to_string()),
        }
    }
}

/// Fails the case with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::case::Fail::Check(format!($($msg)+)));
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
                    return Err($crate::case::Fail::Check(format!(
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

    #[test]
    fn outcomes_keep_skips_apart_from_failures() {
        assert_eq!(Outcome::from(Ok(())), Outcome::Passed);
        assert_eq!(
            Outcome::from(Err(Fail::skip("needs a kubelet"))),
            Outcome::Skipped("needs a kubelet".into())
        );
        assert_eq!(
            Outcome::from(Err(Fail::Api("get Pod p: 503".into()))),
            Outcome::Failed("API call failed: get Pod p: 503".into())
        );
    }
}
