//! The loop: on each (debounced) change, decide, render and apply when the text changed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::decide::decide;
use crate::iptables::Iptables;
use crate::render::render;
use crate::watch::Caches;

/// How long to wait before retrying a failed apply.
const RETRY: Duration = Duration::from_secs(2);

pub struct Enforcer {
    pub caches: Caches,
    pub changed: Arc<Notify>,
    pub iptables: Iptables,
    pub node: String,
    pub prefix: String,
    pub debounce: Duration,
}

impl Enforcer {
    /// Runs until dropped. Returns only if the caches cannot become ready.
    pub async fn run(self) -> anyhow::Result<()> {
        self.caches.ready().await?;
        tracing::info!("caches synced");
        // The text last applied; `None` forces the next apply (at start, or after a failure).
        let mut applied: Option<String> = None;
        let mut existing: BTreeSet<String> = BTreeSet::new();
        let mut refresh = true;
        loop {
            if refresh {
                // Chains left by an earlier run (or changed behind our back) are found here,
                // so the next render deletes those it no longer wants.
                match self.iptables.owned_chains(&self.prefix).await {
                    Ok(found) => existing = found,
                    Err(error) => tracing::warn!(%error, "cannot list chains"),
                }
            }
            let decision = decide(&self.caches.snapshot(), &self.node);
            let ruleset = render(&decision, &self.prefix, &existing);
            if applied.as_deref() != Some(ruleset.text.as_str()) {
                let result = async {
                    self.iptables.restore(&ruleset.text).await?;
                    self.iptables.ensure_jump(&self.prefix).await
                }
                .await;
                match result {
                    Ok(()) => {
                        for warning in &decision.notes.warnings {
                            tracing::warn!("{warning}");
                        }
                        for note in &decision.notes.debug {
                            tracing::debug!("{note}");
                        }
                        tracing::info!(
                            pods = decision.pods.len(),
                            ingress = decision.pods.iter().filter(|p| p.ingress.is_some()).count(),
                            egress = decision.pods.iter().filter(|p| p.egress.is_some()).count(),
                            chains = ruleset.chains.len(),
                            rules = ruleset
                                .text
                                .lines()
                                .filter(|l| l.starts_with("-A "))
                                .count(),
                            "applied"
                        );
                        existing = ruleset.chains;
                        applied = Some(ruleset.text);
                        refresh = false;
                    }
                    Err(error) => {
                        tracing::error!(%error, "apply failed; retrying");
                        applied = None;
                        refresh = true;
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            }
            self.changed.notified().await;
            // Collapse a burst of events into one recomputation.
            tokio::time::sleep(self.debounce).await;
        }
    }
}
