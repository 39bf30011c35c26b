//! A response body that keeps its conversion slot until the connection has taken all of it.
//!
//! A converted review is larger than the request (each object comes back with its stash), and a
//! whole-buffer body would hand all of it to hyper at once and release the slot while the
//! response still waits, in memory, for a slow client. Handing it out in copied chunks, which
//! hyper takes only as its write buffer drains, keeps the response counted against
//! `max_concurrent_conversions` until at most one write buffer of it is left.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

/// How much of the response hyper is given at a time.
const CHUNK: usize = 64 * 1024;

/// A fixed response body, optionally holding a conversion slot until its last chunk is taken.
pub struct SlotBody {
    rest: Bytes,
    slot: Option<OwnedSemaphorePermit>,
}

impl SlotBody {
    pub fn new(data: impl Into<Bytes>) -> Self {
        Self {
            rest: data.into(),
            slot: None,
        }
    }

    /// The same body, holding `slot` until it has been taken whole.
    pub fn holding(self, slot: OwnedSemaphorePermit) -> Self {
        Self {
            slot: (!self.rest.is_empty()).then_some(slot),
            ..self
        }
    }
}

impl Body for SlotBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            this.slot = None;
            return Poll::Ready(None);
        }
        let taken = this.rest.len().min(CHUNK);
        // A copy, so the whole response is freed with its last chunk rather than with the
        // last write of it.
        let chunk = Bytes::copy_from_slice(&this.rest[..taken]);
        this.rest = if taken == this.rest.len() {
            this.slot = None;
            Bytes::new()
        } else {
            this.rest.slice(taken..)
        };
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn the_slot_is_released_with_the_last_chunk() {
        let slots = Arc::new(Semaphore::new(1));
        let data = vec![7u8; CHUNK * 2 + 1];
        let mut body =
            SlotBody::new(data.clone()).holding(slots.clone().try_acquire_owned().unwrap());
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        let mut seen = Vec::new();
        while let Some(frame) = body.frame().await {
            seen.extend_from_slice(&frame.unwrap().into_data().unwrap());
            let released = slots.available_permits() == 1;
            assert_eq!(
                released,
                seen.len() == data.len(),
                "after {} bytes",
                seen.len()
            );
        }
        assert_eq!(seen, data);
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn an_empty_body_holds_nothing() {
        let slots = Arc::new(Semaphore::new(1));
        let mut body =
            SlotBody::new(Bytes::new()).holding(slots.clone().try_acquire_owned().unwrap());
        assert_eq!(slots.available_permits(), 1);
        assert!(body.frame().await.is_none());
    }
}
