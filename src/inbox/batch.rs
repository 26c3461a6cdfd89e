//! Group commit for engines: concurrent accepts of one process are written together, in one
//! script call (Redis, bounded or after a taken key) or one transaction (SQLite; PostgreSQL
//! with a bound), instead of one by one.
//!
//! There is no background task. The first caller to find the engine idle becomes the
//! *leader*: it takes what is queued (its own record and any others, in arrival order, up to a
//! size), writes them in one call, hands each caller its answer, and steps down. Callers that
//! arrive meanwhile queue up; the next of them to get the turn leads the next batch. A single
//! caller therefore writes alone, at the cost of a lock and a channel; sixteen concurrent
//! callers share one round trip and one commit. With several turns (`leaders`), a caller that
//! gets one and finds the queue empty has its record in another leader's batch: it waits for
//! that answer, and never writes the record a second time.
//!
//! A caller learns `None` — "write it alone" — when its batch failed as a whole for a reason
//! that may be another record's (an engine error), or when the leader carrying its record was
//! cancelled before answering. Writes are idempotent on the record's key, so writing it again
//! is safe whatever the failed batch did.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::InboxError;

struct Waiting<T, R> {
    item: T,
    weight: usize,
    reply: oneshot::Sender<Option<R>>,
}

/// Groups concurrent submissions into batches of at most `max_items` items and, past the first
/// item, `max_weight` in total weight (bytes), with at most `leaders` batches written at once.
pub(crate) struct Batcher<T, R> {
    queue: Mutex<Vec<Waiting<T, R>>>,
    turn: tokio::sync::Semaphore,
    max_items: usize,
    max_weight: usize,
}

impl<T, R> Batcher<T, R> {
    /// `leaders` above one lets a batch be prepared and sent while the engine still runs the
    /// previous one (for engines that pipeline calls on one connection).
    pub(crate) fn new(max_items: usize, max_weight: usize, leaders: usize) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            turn: tokio::sync::Semaphore::new(leaders.max(1)),
            max_items: max_items.max(1),
            max_weight,
        }
    }

    /// Queues `item` and waits for its answer, leading batches while it is not answered.
    ///
    /// `run` writes a batch and answers for each item in order (`None` for the whole batch:
    /// every caller writes alone). It must answer exactly as many items as it was given; a
    /// short answer leaves the missing callers to write alone.
    pub(crate) async fn submit<F, Fut>(&self, item: T, weight: usize, run: F) -> Option<R>
    where
        F: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = Option<Vec<R>>>,
    {
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push(Waiting {
            item,
            weight,
            reply,
        });
        // Bounded: a turn either answers this caller, or writes a non-empty batch of the queue
        // (in arrival order, so this caller's item within (items queued before it) /
        // max_items + 1 turns), or finds its item in flight and waits for it.
        loop {
            let turn = tokio::select! {
                biased;
                answered = &mut answer => return answered.ok().flatten(),
                turn = self.turn.acquire() => turn,
            };
            // The semaphore is never closed; if it were, write alone.
            let Ok(turn) = turn else { return None };
            match answer.try_recv() {
                Ok(answered) => return answered,
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch = self.take();
            if batch.is_empty() {
                // Not queued and not answered: another leader is writing it.
                drop(turn);
                return answer.await.ok().flatten();
            }
            let (items, replies): (Vec<T>, Vec<_>) =
                batch.into_iter().map(|w| (w.item, w.reply)).unzip();
            let mut answers = run(items).await.map(Vec::into_iter);
            for reply in replies {
                let _ = reply.send(answers.as_mut().and_then(Iterator::next));
            }
            drop(turn);
        }
    }

    /// The next batch: queued items in arrival order, within the size bounds (at least one).
    fn take(&self) -> Vec<Waiting<T, R>> {
        let mut queue = self.lock_queue();
        let mut weight = 0usize;
        let mut count = 0;
        for waiting in queue.iter().take(self.max_items) {
            weight = weight.saturating_add(waiting.weight);
            if count > 0 && weight > self.max_weight {
                break;
            }
            count += 1;
        }
        queue.drain(..count).collect()
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiting<T, R>>> {
        // Nothing panics while the queue is locked; a poisoned lock holds a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Per item, the engine's answer, or an error the whole group met.
pub(crate) type Answer<A> = Result<A, Arc<InboxError>>;

impl<T, A> Batcher<T, Answer<A>> {
    /// Writes the item `make` makes through `write`, grouped with concurrent items: one answer
    /// per item, in order. `make` is called once, and once more only to write the item alone.
    /// When the group fails because the engine cannot be reached, every item of it gets that
    /// error; when it fails otherwise (maybe for another item), each item is written again
    /// alone, so one item's error is never another's.
    pub(crate) async fn write<F, Fut>(
        &self,
        make: impl Fn() -> T,
        weight: usize,
        write: F,
    ) -> Result<A, InboxError>
    where
        F: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = Result<Vec<A>, InboxError>>,
    {
        let grouped = self
            .submit(make(), weight, |group| {
                let count = group.len();
                let written = write(group);
                async move {
                    match written.await {
                        Ok(answers) => Some(answers.into_iter().map(Ok).collect()),
                        Err(error @ InboxError::Unavailable(_)) => {
                            let error = Arc::new(error);
                            Some((0..count).map(|_| Err(Arc::clone(&error))).collect())
                        }
                        Err(_) => None,
                    }
                }
            })
            .await;
        match grouped {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(shared)) => Err(InboxError::unavailable(shared)),
            None => write(vec![make()])
                .await?
                .pop()
                .ok_or_else(|| InboxError::backend("the engine gave no answer for the record")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn concurrent_submissions_share_batches_and_each_gets_its_own_answer() {
        runtime().block_on(async {
            let batcher = Arc::new(Batcher::<u32, u32>::new(8, usize::MAX, 1));
            let calls = Arc::new(AtomicUsize::new(0));
            let sizes = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..40u32)
                .map(|i| {
                    let (batcher, calls, sizes) = (batcher.clone(), calls.clone(), sizes.clone());
                    tokio::spawn(async move {
                        batcher
                            .submit(i, 1, |items: Vec<u32>| {
                                let (calls, sizes) = (calls.clone(), sizes.clone());
                                async move {
                                    calls.fetch_add(1, Ordering::SeqCst);
                                    sizes.lock().unwrap().push(items.len());
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                    Some(items.iter().map(|i| i * 10).collect())
                                }
                            })
                            .await
                    })
                })
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), Some(i as u32 * 10));
            }
            let sizes = sizes.lock().unwrap();
            assert_eq!(sizes.iter().sum::<usize>(), 40, "each item written once");
            assert!(sizes.iter().all(|&n| (1..=8).contains(&n)), "{sizes:?}");
            assert!(
                calls.load(Ordering::SeqCst) < 40,
                "concurrent items were grouped: {sizes:?}"
            );
        });
    }

    #[test]
    fn with_several_leaders_each_item_is_written_exactly_once() {
        runtime().block_on(async {
            let batcher = Arc::new(Batcher::<u32, u32>::new(4, usize::MAX, 3));
            let written = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..200u32)
                .map(|i| {
                    let (batcher, written) = (batcher.clone(), written.clone());
                    tokio::spawn(async move {
                        batcher
                            .submit(i, 1, |items: Vec<u32>| {
                                let written = written.clone();
                                async move {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                    written.lock().unwrap().extend(items.iter().copied());
                                    Some(items.iter().map(|i| i + 1000).collect())
                                }
                            })
                            .await
                    })
                })
                .collect();
            for (i, task) in tasks.into_iter().enumerate() {
                assert_eq!(task.await.unwrap(), Some(i as u32 + 1000));
            }
            let mut written = written.lock().unwrap().clone();
            written.sort_unstable();
            assert_eq!(
                written,
                (0..200).collect::<Vec<_>>(),
                "each item written once"
            );
        });
    }

    #[test]
    fn weight_bounds_a_batch_but_never_below_one_item() {
        let batcher = Batcher::<u32, u32>::new(10, 100, 1);
        for weight in [60, 30, 20, 500] {
            let (reply, _answer) = oneshot::channel();
            batcher.lock_queue().push(Waiting {
                item: 0,
                weight,
                reply,
            });
        }
        assert_eq!(batcher.take().len(), 2, "60 + 30 fit, + 20 does not");
        assert_eq!(batcher.take().len(), 1);
        assert_eq!(
            batcher.take().len(),
            1,
            "an item heavier than the bound goes alone"
        );
        assert!(batcher.take().is_empty());
    }

    #[test]
    fn a_failed_batch_or_a_short_answer_tells_callers_to_write_alone() {
        runtime().block_on(async {
            let batcher = Batcher::<u32, u32>::new(4, usize::MAX, 1);
            let failed = batcher.submit(1, 1, |_| async { None }).await;
            assert_eq!(failed, None);
            let short = batcher.submit(2, 1, |_| async { Some(Vec::new()) }).await;
            assert_eq!(short, None);
        });
    }

    #[test]
    fn a_cancelled_leader_releases_its_followers() {
        runtime().block_on(async {
            let batcher = Arc::new(Batcher::<u32, u32>::new(4, usize::MAX, 1));
            let leader = {
                let batcher = batcher.clone();
                tokio::spawn(async move {
                    batcher
                        .submit(1, 1, |_| async {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            Some(vec![1])
                        })
                        .await
                })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            let follower = {
                let batcher = batcher.clone();
                tokio::spawn(async move {
                    batcher
                        .submit(2, 1, |items: Vec<u32>| async move { Some(items) })
                        .await
                })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            leader.abort();
            let answer = tokio::time::timeout(Duration::from_secs(5), follower)
                .await
                .expect("the follower leads once the leader is gone")
                .unwrap();
            assert_eq!(
                answer,
                Some(2),
                "queued behind the cancelled batch, written next"
            );
        });
    }
}
