//! The futures one task keeps in flight: the nodes of a scope that are running, a map's items.
//! Each is polled by the owning task when, and only when, its own waker was called.
//!
//! Written here rather than taken from `futures::stream::FuturesUnordered`, which after
//! polling each of its futures once with none finishing wakes its own task and returns
//! `Pending`, to give the executor a turn. On tokio's multi-threaded runtime a task that wakes
//! itself goes to the back of the run queue and another worker thread is woken to take it: a
//! hand-off between threads for every node of a chain (10 futex calls per run of a five-call
//! chain, against 2 for the same program written by hand). Here nothing wakes itself unless
//! one of the futures did (tokio's cooperative budget does that), and then the owning task
//! yields once, as it should.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// A set of futures of one type, polled as they are woken; yields their outputs in the order
/// they finish.
pub(crate) struct InFlight<F> {
    /// The futures, by slot; a finished one's slot is reused.
    slots: Vec<Option<Pin<Box<F>>>>,
    /// Each slot's waker, made once per slot.
    wakers: Vec<Waker>,
    free: Vec<usize>,
    woken: Arc<Woken>,
    len: usize,
}

/// The slots whose futures were woken since they were last polled, and the owning task.
struct Woken {
    slots: Mutex<Vec<usize>>,
    owner: AtomicWaker,
}

impl Woken {
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        // A panic while the lock is held cannot leave the list inconsistent.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct SlotWaker {
    slot: usize,
    woken: Arc<Woken>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.slots().push(self.slot);
        self.woken.owner.wake();
    }
}

impl<F: Future> InFlight<F> {
    pub fn new() -> Self {
        InFlight {
            slots: Vec::new(),
            wakers: Vec::new(),
            free: Vec::new(),
            woken: Arc::new(Woken { slots: Mutex::new(Vec::new()), owner: AtomicWaker::new() }),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a future; it is first polled by the next [`InFlight::next`].
    pub fn push(&mut self, future: F) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = self.slots.len();
                self.slots.push(None);
                self.wakers.push(Waker::from(Arc::new(SlotWaker { slot, woken: self.woken.clone() })));
                slot
            }
        };
        self.slots[slot] = Some(Box::pin(future));
        self.len += 1;
        self.woken.slots().push(slot);
    }

    /// The output of the next future to finish; `None` when none is left.
    pub async fn next(&mut self) -> Option<F::Output> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        self.woken.owner.register(cx.waker());
        let mut batch = std::mem::take(&mut *self.woken.slots());
        let mut finished = None;
        let mut polled = 0;
        for &slot in &batch {
            polled += 1;
            // A slot may be listed twice, or have finished since it was woken.
            let Some(future) = self.slots.get_mut(slot).and_then(Option::as_mut) else { continue };
            if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&self.wakers[slot])) {
                self.slots[slot] = None;
                self.free.push(slot);
                self.len -= 1;
                finished = Some(output);
                break;
            }
        }
        // Slots of the batch not polled yet go back, ahead of those woken meanwhile.
        if polled < batch.len() {
            let mut woken = self.woken.slots();
            batch.drain(..polled);
            batch.append(&mut woken);
            *woken = batch;
        }
        match finished {
            Some(output) => Poll::Ready(Some(output)),
            None => {
                // A future that woke itself while it was polled wants to yield: let the
                // executor run something else first.
                if !self.woken.slots().is_empty() {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn outputs_come_in_the_order_the_futures_finish() {
        let mut set = InFlight::new();
        for (value, ms) in [(1, 30), (2, 10), (3, 20)] {
            set.push(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                value
            });
        }
        assert_eq!(set.len(), 3);
        let mut got = Vec::new();
        while let Some(v) = set.next().await {
            got.push(v);
        }
        assert_eq!(got, [2, 3, 1]);
        assert!(set.is_empty());
    }

    #[tokio::test]
    async fn slots_are_reused_and_a_future_that_yields_is_polled_again() {
        let mut set = InFlight::new();
        set.push(Box::pin(async { 1 }) as Pin<Box<dyn Future<Output = i32> + Send>>);
        assert_eq!(set.next().await, Some(1));
        // `yield_now` wakes its own waker and returns `Pending` once.
        set.push(Box::pin(async {
            tokio::task::yield_now().await;
            2
        }));
        set.push(Box::pin(async { 3 }));
        assert_eq!(set.slots.len(), 2, "the first slot was reused");
        let mut got = vec![set.next().await.unwrap(), set.next().await.unwrap()];
        got.sort_unstable();
        assert_eq!(got, [2, 3]);
        assert_eq!(set.next().await, None);
    }
}
