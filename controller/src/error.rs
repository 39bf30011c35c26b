//! The one error a reconcile returns, whichever kind it reconciles: the write the API server
//! refused, or what the decision itself refused to do. `run::timed` counts every failure in
//! the reconcile metrics by controller; each kind's `error_policy` only chooses how soon to
//! retry.

use crate::sandbox::apply::ApplyError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed, named by what it was doing.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The decision itself reported an error (a child owned by someone else, say); retried
    /// with backoff.
    #[error("{0}")]
    Decided(String),
}

impl Error {
    /// A closure naming a failed API call `what`, for `map_err`.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        move |source| Error::Api {
            what: what.into(),
            source,
        }
    }
}

impl From<ApplyError> for Error {
    fn from(ApplyError { what, source }: ApplyError) -> Self {
        Error::Api { what, source }
    }
}
