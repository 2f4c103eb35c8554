//! A response body that filters `tools/list` results out of a `text/event-stream` as it flows.

use std::pin::Pin;
use std::task::{Context, Poll};

use authsec_core::tools_list::SseFilter;
use bytes::Bytes;
use http_body::{Body, Frame};
use pin_project_lite::pin_project;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

impl<B, F> Body for SseFilterBody<B, F>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    F: Fn(&str) -> bool,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = this.filter.push(&data);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                    }
                    Err(other) => return Poll::Ready(Some(Ok(other))),
                },
                Poll::Ready(None) => {
                    *this.done = true;
                    let rest = this.filter.finish();
                    if !rest.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                    }
                }
            }
        }
    }
}
