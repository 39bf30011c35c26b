//! What a conformance case is: a name, the spec section it checks, a time budget and an async
//! body that either passes, fails with a message, or declares itself skipped with a reason.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::context::CaseContext;
use crate::fail::Fail;
use crate::release::Release;

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
    /// The upstream release that introduced the behaviour: a run checking an earlier release's
    /// spec skips the case.
    pub since: Release,
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
            .field("since", &self.since)
            .finish_non_exhaustive()
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

#[cfg(test)]
mod tests {
    use super::*;

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
