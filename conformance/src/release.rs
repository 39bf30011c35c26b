//! Upstream releases, as the suite tags its cases with them: each case names the release that
//! introduced the behaviour it checks, and a run checks the spec of one release (or the latest),
//! skipping the cases of later releases rather than failing them.

use std::fmt;
use std::str::FromStr;

/// An upstream agent-sandbox release, `vMAJOR.MINOR.PATCH`, ordered by version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl Release {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The release the API and behaviour spec was written from: every behaviour it describes.
    pub const V0_5_6: Release = Release::new(0, 5, 6);
    /// Sandbox lifecycle Events; `InvalidConfiguration` for children the API server refuses.
    pub const V1_0_4: Release = Release::new(1, 0, 4);
    /// The Sandbox CRD refuses names over 63 characters when `spec.service` is set.
    pub const V1_0_6: Release = Release::new(1, 0, 6);
    /// Scheduling-gated members are not stuck; a pool without its template says so.
    pub const V1_0_7: Release = Release::new(1, 0, 7);
    /// `operating_mode` on the `agent_sandboxes` gauge; not Ready while the Pod terminates.
    pub const V1_0_11: Release = Release::new(1, 0, 11);
    /// `readinessGracePeriodSeconds` per pool; the `agent-sandbox-config` ConfigMap.
    pub const V1_0_12: Release = Release::new(1, 0, 12);
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Release {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a release: want vMAJOR.MINOR.PATCH, e.g. v1.0.3");
        let digits = text.strip_prefix('v').ok_or_else(bad)?;
        let parts: Vec<u16> = digits
            .split('.')
            .map(|part| part.parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        match parts[..] {
            [major, minor, patch] => Ok(Release::new(major, minor, patch)),
            _ => Err(bad()),
        }
    }
}

/// Which spec a run checks: every case, or only the cases of one release and earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spec {
    #[default]
    Latest,
    Release(Release),
}

impl Spec {
    /// Why a case introduced in `since` is not checked under this spec, or `None` if it is.
    pub fn excludes(self, since: Release) -> Option<String> {
        match self {
            Spec::Release(release) if since > release => Some(format!(
                "introduced in upstream {since}; this run checks the {release} spec (--spec)"
            )),
            _ => None,
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Latest => f.write_str("latest"),
            Spec::Release(release) => release.fmt(f),
        }
    }
}

impl FromStr for Spec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "latest" {
            return Ok(Spec::Latest);
        }
        text.parse()
            .map(Spec::Release)
            .map_err(|e| format!("{e}, or latest"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_print_and_order_by_version() {
        let r: Release = "v1.0.12".parse().unwrap();
        assert_eq!(r, Release::V1_0_12);
        assert_eq!(r.to_string(), "v1.0.12");
        assert!(Release::V1_0_4 < Release::V1_0_12, "numeric, not textual");
        assert!(Release::V0_5_6 < Release::V1_0_4);
        for bad in ["1.0.3", "v1.0", "v1.0.3.1", "v1.x.3", "", "latest"] {
            let error = bad.parse::<Release>().unwrap_err();
            assert!(error.contains("vMAJOR.MINOR.PATCH"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_release_spec_excludes_only_later_cases() {
        let spec: Spec = "v1.0.3".parse().unwrap();
        assert_eq!(spec.excludes(Release::V0_5_6), None);
        assert_eq!(spec.excludes(Release::new(1, 0, 3)), None);
        assert_eq!(
            spec.excludes(Release::V1_0_4).as_deref(),
            Some("introduced in upstream v1.0.4; this run checks the v1.0.3 spec (--spec)")
        );
        assert_eq!(Spec::Latest.excludes(Release::V1_0_12), None);
        assert_eq!("latest".parse::<Spec>(), Ok(Spec::Latest));
        assert!("newest".parse::<Spec>().unwrap_err().ends_with("or latest"));
    }
}
