//! Group commit: one flush covers every write waiting for it, and no writer returns before a
//! flush that began after its write. sled 0.34 flushes about 6,000 times a second on this
//! machine kind (../shared/research); with writers flushing one by one, that is the ceiling
//! of acknowledged writes, however many wait. Here a writer takes a ticket after its write is
//! applied; one waiting writer at a time leads a flush of everything ticketed so far, and the
//! others wait for a flush that covers their ticket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

/// The bounds (seconds) of the flush-time histogram: on the machine kind of the README's
/// figures, a flush takes 0.3-0.4 ms on an idle gateway and about 2 ms under load (covering
/// several writes); the upper bounds are there for a disk that stalls.
const FLUSH_BUCKETS: [f64; 13] = [
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
];

/// The flush state shared by the writers of one store.
#[derive(Debug)]
pub struct GroupCommit {
    /// Tickets handed out: one per write applied and waiting to be durable.
    written: AtomicU64,
    state: Mutex<State>,
    done: Condvar,
    /// How long each flush that wrote something took, in seconds.
    times: Histogram,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            written: AtomicU64::new(0),
            state: Mutex::default(),
            done: Condvar::new(),
            times: Histogram::new(FLUSH_BUCKETS),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// A writer is flushing now.
    flushing: bool,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// Flushes run that wrote something (for the tests and the bench).
    flushes: u64,
}

impl GroupCommit {
    /// Makes the caller's write, already applied, durable: returns once a flush that began
    /// after the write has completed, running it when no other writer is. `flush` writes
    /// everything applied so far and says how many bytes that took (none: everything was on
    /// disk already); its error is the caller's (a waiting writer whose ticket it did not
    /// cover leads the next flush and meets the error itself).
    pub fn commit<E>(&self, flush: impl Fn() -> Result<usize, E>) -> Result<(), E> {
        let mine = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if st.durable >= mine {
                return Ok(());
            }
            if st.flushing {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Lead: every ticket handed out so far belongs to a write already applied.
            st.flushing = true;
            let target = self.written.load(Ordering::SeqCst);
            drop(st);
            let began = Instant::now();
            let result = flush();
            let took = began.elapsed();
            st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.flushing = false;
            if let Ok(written) = result {
                st.durable = st.durable.max(target);
                if written > 0 {
                    st.flushes += 1;
                    self.times.observe(took.as_secs_f64());
                }
            }
            self.done.notify_all();
            result?;
        }
    }

    /// Flushes run so far that wrote something.
    pub fn flushes(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).flushes
    }

    /// How long each of those flushes took, in seconds: a clone, observed as flushes go on
    /// (`/metrics`).
    pub fn times(&self) -> Histogram {
        self.times.clone()
    }
}

/// Writes that a reader may act on only once they are durable, tracked by key until a
/// flush covers them, so that the reader flushes for one of those and for nothing else
/// (the outbox: a message leaves once the record that queued it is on disk). A write is
/// entered before it is applied, so whoever reads what it wrote finds it here; it leaves
/// once a flush that began after it was applied has ended.
#[derive(Debug, Default)]
pub struct Unflushed {
    /// Key -> whether its write is applied.
    writes: Mutex<HashMap<u64, bool>>,
}

impl Unflushed {
    fn writes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, bool>> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before the write of `key`.
    pub fn begin(&self, key: u64) {
        self.writes().insert(key, false);
    }

    /// After the write of `key`: applied (`true`), or not made at all.
    pub fn end(&self, key: u64, applied: bool) {
        let mut w = self.writes();
        if applied {
            w.insert(key, true);
        } else {
            w.remove(&key);
        }
    }

    /// Whether the write of `key` may not be on disk yet. A key not entered here (never
    /// written through it, or written before the store was last opened) is on disk.
    pub fn holds(&self, key: u64) -> bool {
        self.writes().contains_key(&key)
    }

    /// Runs `flush`, which makes every write applied before it durable; when it succeeds,
    /// the writes applied before it began are no longer tracked.
    pub fn covering<T, E>(&self, flush: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let applied: Vec<u64> = self
            .writes()
            .iter()
            .filter_map(|(k, applied)| applied.then_some(*k))
            .collect();
        let out = flush()?;
        let mut w = self.writes();
        for k in applied {
            w.remove(&k);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_write_is_tracked_until_a_flush_that_began_after_it_was_applied() {
        let u = Unflushed::default();
        assert!(!u.holds(1), "never written: nothing to wait for");
        u.begin(1);
        u.begin(2);
        assert!(u.holds(1) && u.holds(2));
        u.end(1, true);
        // Write 2 is applied while the flush runs: the flush may not cover it.
        u.covering(|| {
            u.end(2, true);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(!u.holds(1), "flushed after it was applied");
        assert!(u.holds(2), "applied while the flush ran");
        assert_eq!(u.covering(|| Err::<(), _>("disk full")), Err("disk full"));
        assert!(u.holds(2), "a failed flush covers nothing");
        u.covering(|| Ok::<(), ()>(())).unwrap();
        assert!(!u.holds(2));
        u.begin(3);
        u.end(3, false);
        assert!(!u.holds(3), "a write not made is not waited for");
    }

    /// A "store": writes bump `applied`; a flush makes everything applied durable, slowly.
    #[derive(Default)]
    struct Fake {
        applied: AtomicU64,
        durable: AtomicU64,
        gc: GroupCommit,
    }

    impl Fake {
        fn write_and_commit(&self) -> u64 {
            let me = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
            self.sync();
            me
        }

        /// Makes everything applied durable; writes as many "bytes" as writes were not.
        fn sync(&self) {
            self.gc
                .commit(|| {
                    let upto = self.applied.load(Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    let before = self.durable.fetch_max(upto, Ordering::SeqCst);
                    Ok::<usize, ()>(upto.saturating_sub(before) as usize)
                })
                .unwrap();
        }
    }

    #[test]
    fn a_sync_with_nothing_unflushed_is_not_counted_as_a_flush() {
        let f = Fake::default();
        f.write_and_commit();
        f.sync();
        f.sync();
        assert_eq!(f.gc.flushes(), 1);
        f.write_and_commit();
        assert_eq!(f.gc.flushes(), 2);
    }

    #[test]
    fn no_writer_returns_before_its_write_is_durable_and_flushes_are_shared() {
        let f = Arc::new(Fake::default());
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let f = f.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let me = f.write_and_commit();
                        assert!(
                            f.durable.load(Ordering::SeqCst) >= me,
                            "acknowledged before durable"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let flushes = f.gc.flushes();
        assert_eq!(f.durable.load(Ordering::SeqCst), 800);
        assert!(
            flushes < 800,
            "one flush per write: nothing shared ({flushes})"
        );
    }

    #[test]
    fn a_failed_flush_fails_its_writers_and_the_next_one_retries() {
        let gc = GroupCommit::default();
        let fail = std::sync::atomic::AtomicBool::new(true);
        let flush = || {
            if fail.swap(false, Ordering::SeqCst) {
                Err("disk full")
            } else {
                Ok(1)
            }
        };
        assert_eq!(gc.commit(flush), Err("disk full"));
        assert_eq!(gc.commit(flush), Ok(()));
        assert_eq!(gc.flushes(), 1, "the flush that failed wrote nothing");
    }
}
