//! A response body that filters `tools/list` results out of a `text/event-stream` as it flows.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use authsec_core::tools_list::SseFilter;
use bytes::Bytes;
use pin_project_lite::pin_project;

type BoxError = Box<dyn std::error::Error>;

pin_project! {
    /// Wraps an SSE body; complete events are forwarded as soon as they end.
    pub(crate) struct SseFilterBody<B, F> {
        #[pin]
        inner: B,
        filter: SseFilter<F>,
        done: bool,
    }
}

impl<B, F: Fn(&str) -> bool> SseFilterBody<B, F> {
    /// `filter` comes from [`Protection::sse_filter`](authsec_core::Protection::sse_filter).
    pub(crate) fn new(inner: B, filter: SseFilter<F>) -> Self {
        SseFilterBody {
            inner,
            filter,
            done: false,
        }
    }
}

impl<B, F> MessageBody for SseFilterBody<B, F>
where
    B: MessageBody,
    F: Fn(&str) -> bool,
{
    type Error = BoxError;

    fn size(&self) -> BodySize {
        // Filtering changes the length; the stream is sent chunked.
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let mut this = self.project();
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = this.filter.push(&chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    let rest = this.filter.finish();
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(rest))));
                    }
                }
            }
        }
    }
}
